// An OpenID Connect / OAuth2 provider for the tests (oauth2-mock-server), on 127.0.0.1:PORT.
// Behaviour comes from the environment:
//   PROFILE       JSON object the userinfo endpoint answers (default {"sub":"johndoe"})
//   TOKEN_STATUS  HTTP status of the token endpoint (default 200)
//   DENY          "1": the authorize endpoint answers error=access_denied (a refused consent)
// It prints "ready" once listening.
import { OAuth2Server } from 'oauth2-mock-server';

const port = Number(process.env.PORT);
const profile = JSON.parse(process.env.PROFILE || '{"sub":"johndoe"}');
const tokenStatus = Number(process.env.TOKEN_STATUS || '200');

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.service.on('beforeUserinfo', (response) => {
  response.body = profile;
});
server.service.on('beforeResponse', (response) => {
  if (tokenStatus !== 200) {
    response.statusCode = tokenStatus;
    response.body = { error: 'server_error' };
  }
});
server.service.on('beforeAuthorizeRedirect', (redirect) => {
  if (process.env.DENY === '1') {
    redirect.url.searchParams.delete('code');
    redirect.url.searchParams.set('error', 'access_denied');
  }
});
await server.start(port, '127.0.0.1');
console.log('ready');
