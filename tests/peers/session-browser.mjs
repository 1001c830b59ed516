// Cookie mode in a real browser (Debian's Chromium, headless, through playwright-core): a page
// of Castellan's own origin signs in and refreshes with the HttpOnly refresh cookie; pages of
// other origins (another site, and the same site on another port) try to use the session.
// Usage:
//   node session-browser.mjs API_BASE SAME_SITE_OTHER_ORIGIN CROSS_SITE_ORIGIN USERNAME PASSWORD
// Prints one JSON line: what each page saw, and every URL, status and response body the
// browser met.
import { chromium } from 'playwright-core';

const [api, sameSite, crossSite, username, password] = process.argv.slice(2);
const report = { urls: [], bodies: [], blocked: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const context = await browser.newContext();
  // No request interception (`context.route`): with it, Playwright answers CORS preflights
  // itself, and the browser would send what a real one refuses to. The pages reach only
  // loopback; any other request is reported.
  context.on('request', (request) => {
    report.urls.push(request.url());
    const host = new URL(request.url()).hostname;
    if (host !== '127.0.0.1' && host !== 'localhost') report.blocked.push(request.url());
  });
  context.on('response', async (response) => {
    report.statuses = report.statuses ?? [];
    report.statuses.push(`${response.request().method()} ${response.url()} ${response.status()}`);
    try {
      report.bodies.push(await response.text());
    } catch {
      // Bodies of failed or opaque requests cannot be read.
    }
  });
  const page = await context.newPage();

  // The front end's own page: sign in, read the answer, refresh twice with the cookie.
  await page.goto(`${api}/spa`);
  report.own = await page.evaluate(
    async ({ username, password }) => {
      const json = { 'content-type': 'application/json' };
      const login = await fetch('/api/auth/local', {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ identifier: username, password, deviceId: 'browser' }),
      });
      const loginBody = await login.json();
      const refreshes = [];
      for (let i = 0; i < 2; i++) {
        const response = await fetch('/api/auth/refresh', { method: 'POST', headers: json, body: '{}' });
        refreshes.push({ status: response.status, keys: Object.keys(await response.json()).sort() });
      }
      const me = await fetch('/api/users/me', { headers: { authorization: `Bearer ${loginBody.jwt}` } });
      return {
        loginStatus: login.status,
        loginKeys: Object.keys(loginBody).sort(),
        refreshes,
        meStatus: me.status,
        scriptCookies: document.cookie,
      };
    },
    { username, password },
  );
  report.cookies = (await context.cookies()).map(({ name, value, httpOnly, sameSite, path, secure }) => ({
    name, value, httpOnly, sameSite, path, secure,
  }));

  // Pages of other origins try the refresh route with the browser's cookie: a CORS request
  // (preflighted, since it sends JSON), and a simple one a form could send.
  const attack = async (origin) => {
    await page.goto(`${origin}/evil`);
    return page.evaluate(async (api) => {
      const outcome = {};
      try {
        const response = await fetch(`${api}/api/auth/refresh`, {
          method: 'POST',
          credentials: 'include',
          headers: { 'content-type': 'application/json' },
          body: '{}',
        });
        outcome.cors = `status ${response.status}: ${await response.text()}`;
      } catch (error) {
        outcome.cors = `refused: ${error.name}`;
      }
      try {
        const response = await fetch(`${api}/api/auth/refresh`, { method: 'POST', credentials: 'include', mode: 'no-cors' });
        outcome.simple = `opaque ${response.type}`;
      } catch (error) {
        outcome.simple = `refused: ${error.name}`;
      }
      try {
        const response = await fetch(`${api}/api/auth/sessions`, { credentials: 'include' });
        outcome.read = `status ${response.status}: ${await response.text()}`;
      } catch (error) {
        outcome.read = `refused: ${error.name}`;
      }
      return outcome;
    }, api);
  };
  report.sameSite = await attack(sameSite);
  report.crossSite = await attack(crossSite);

  // The own page still refreshes: the attempts changed nothing.
  await page.goto(`${api}/spa`);
  report.after = await page.evaluate(async () => {
    const response = await fetch('/api/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    return response.status;
  });
  report.finalCookies = (await context.cookies()).map(({ name, value }) => ({ name, value }));
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
