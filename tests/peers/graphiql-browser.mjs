// Drives Debian's Chromium (headless, through playwright-core, never a downloaded browser) to
// Castellan's GraphiQL with every request off loopback refused, as on a machine without the
// internet. Usage:
//   node graphiql-browser.mjs run  BASE_URL JWT SCREENSHOT   (types the JWT after `Bearer `,
//                                                          runs the default `me` query)
//   node graphiql-browser.mjs open BASE_URL                  (only loads GET /graphql)
// Prints one JSON line: what the page showed, and every request that was refused.
import { chromium } from 'playwright-core';

const [mode, base, jwt, screenshot] = process.argv.slice(2);
const report = { blocked: [], consoleErrors: [], cspViolations: [] };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // The network: loopback only. Anything else is aborted and reported.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    const loopback = url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
    if (loopback || url.protocol === 'data:') return route.continue();
    report.blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') {
      const text = message.text();
      (text.includes('Content Security Policy') ? report.cspViolations : report.consoleErrors).push(text);
    }
  });
  const response = await page.goto(`${base}/graphql`, { waitUntil: 'load' });
  report.status = response.status();
  report.contentType = response.headers()['content-type'] ?? null;
  report.csp = response.headers()['content-security-policy'] ?? null;
  if (mode === 'open') {
    report.text = (await page.textContent('body'))?.trim() ?? '';
  } else {
    await page.waitForSelector('.graphiql-container', { timeout: 30000 });
    // The headers editor is open and prefilled.
    const editorValue = (needle) =>
      page.evaluate((needle) => {
        for (const element of document.querySelectorAll('.CodeMirror')) {
          const value = element.CodeMirror?.getValue() ?? '';
          if (value.includes(needle)) return value;
        }
        return null;
      }, needle);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('.CodeMirror')].some((e) => (e.CodeMirror?.getValue() ?? '').includes('Authorization')),
    );
    report.prefilledHeaders = await editorValue('Authorization');
    // Type the JWT after `Bearer `, as a person would: click the line, go to its end, step
    // back over the closing quote, type.
    const line = page.locator('.graphiql-editor-tool .CodeMirror-line', { hasText: 'Bearer' }).first();
    await line.click();
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.type(jwt, { delay: 2 });
    report.typedHeaders = await editorValue('Authorization');
    report.query = await editorValue('me {');
    await page.click('.graphiql-execute-button');
    await page.waitForFunction(
      () => {
        const result = document.querySelector('.graphiql-response .CodeMirror');
        return result && (result.CodeMirror?.getValue() ?? '').includes('"data"');
      },
      null,
      { timeout: 30000 },
    );
    report.result = await page.evaluate(() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue());
    report.resultShown = await page.locator('.graphiql-response').innerText();
    await page.screenshot({ path: screenshot, fullPage: true });
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
