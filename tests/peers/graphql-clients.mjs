// GraphQL clients from the npm registry, with their defaults, against Castellan at BASE_URL:
// urql (queries as GET) and Apollo Client (POST), each through register → login → me →
// changePassword → me, and Apollo's persisted queries sending a query as a GET of its hash.
// Prints one JSON line with what each step answered and every HTTP request made.
//   node graphql-clients.mjs BASE_URL
import { createHash } from 'node:crypto';
import { Client, fetchExchange, gql as urqlGql } from '@urql/core';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const url = `${process.argv[2]}/graphql`;
const requests = [];
const recording = (client) => async (input, init = {}) => {
  const response = await fetch(input, init);
  requests.push({
    client,
    method: init.method ?? 'GET',
    url: String(input),
    status: response.status,
    contentType: response.headers.get('content-type'),
  });
  return response;
};

const REGISTER = `mutation Register($input: UsersPermissionsRegisterInput!) {
  register(input: $input) { jwt user { id username email } }
}`;
const LOGIN = `mutation Login($input: UsersPermissionsLoginInput!) {
  login(input: $input) { jwt user { id username } }
}`;
const ME = `query Me { me { id username email role { type } } }`;
const CHANGE_PASSWORD = `mutation ChangePassword($current: String!, $password: String!) {
  changePassword(currentPassword: $current, password: $password, passwordConfirmation: $password) { jwt }
}`;

const describe = (error) => (error ? String(error.message ?? error) : null);

async function withUrql() {
  const client = (token) =>
    new Client({
      url,
      exchanges: [fetchExchange],
      fetch: recording('urql'),
      fetchOptions: () => (token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
  const steps = {};
  const who = { username: 'urql-user', email: 'urql@example.com', password: 'first-password-1' };
  const registered = await client().mutation(urqlGql(REGISTER), { input: who }).toPromise();
  steps.register = { data: registered.data, error: describe(registered.error) };
  const login = await client()
    .mutation(urqlGql(LOGIN), { input: { identifier: who.email, password: who.password } })
    .toPromise();
  steps.login = { data: login.data, error: describe(login.error) };
  const jwt = login.data?.login?.jwt;
  const me = await client(jwt).query(urqlGql(ME), {}).toPromise();
  steps.me = { data: me.data, error: describe(me.error) };
  const changed = await client(jwt)
    .mutation(urqlGql(CHANGE_PASSWORD), { current: who.password, password: 'second-password-2' })
    .toPromise();
  steps.changePassword = { data: changed.data, error: describe(changed.error) };
  const newJwt = changed.data?.changePassword?.jwt;
  const meAfter = await client(newJwt).query(urqlGql(ME), {}).toPromise();
  steps.meAfter = { data: meAfter.data, error: describe(meAfter.error) };
  const oldToken = await client(jwt).query(urqlGql(ME), {}).toPromise();
  steps.meWithOldToken = { data: oldToken.data ?? null, error: describe(oldToken.error) };
  return steps;
}

async function withApollo() {
  const client = (token, name = 'apollo') =>
    new ApolloClient({
      cache: new InMemoryCache(),
      link: new HttpLink({
        uri: url,
        fetch: recording(name),
        headers: token ? { authorization: `Bearer ${token}` } : {},
      }),
    });
  const steps = {};
  const who = { username: 'apollo-user', email: 'apollo@example.com', password: 'first-password-1' };
  const run = async (step, operation) => {
    try {
      const result = await operation();
      steps[step] = { data: result.data ?? null, error: describe(result.error) };
    } catch (error) {
      steps[step] = { data: null, error: describe(error) };
    }
    return steps[step].data;
  };
  await run('register', () => client().mutate({ mutation: gql(REGISTER), variables: { input: who } }));
  const login = await run('login', () =>
    client().mutate({ mutation: gql(LOGIN), variables: { input: { identifier: who.username, password: who.password } } }),
  );
  const jwt = login?.login?.jwt;
  await run('me', () => client(jwt).query({ query: gql(ME), fetchPolicy: 'network-only' }));
  const changed = await run('changePassword', () =>
    client(jwt).mutate({ mutation: gql(CHANGE_PASSWORD), variables: { current: who.password, password: 'second-password-2' } }),
  );
  const newJwt = changed?.changePassword?.jwt;
  await run('meAfter', () => client(newJwt).query({ query: gql(ME), fetchPolicy: 'network-only' }));
  await run('meWithOldToken', () => client(jwt).query({ query: gql(ME), fetchPolicy: 'network-only' }));

  // Persisted queries: the hash alone, as a GET; the text once, when the server asks for it.
  const persisted = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([
      new PersistedQueryLink({
        sha256: (text) => createHash('sha256').update(text).digest('hex'),
        useGETForHashedQueries: true,
      }),
      new HttpLink({ uri: url, fetch: recording('persisted'), headers: { authorization: `Bearer ${newJwt}` } }),
    ]),
  });
  await run('persistedFirst', () => persisted.query({ query: gql(ME), fetchPolicy: 'network-only' }));
  await run('persistedAgain', () => persisted.query({ query: gql(ME), fetchPolicy: 'network-only' }));
  return steps;
}

const report = { urql: await withUrql(), apollo: await withApollo(), requests };
console.log(JSON.stringify(report));
