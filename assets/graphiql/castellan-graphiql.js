// Castellan's GraphiQL page: GraphiQL on this very endpoint, the headers editor open and
// prefilled with the Bearer header a signed-in request needs (paste the JWT after `Bearer `).
(function () {
  var url = window.location.origin + window.location.pathname;
  // The prefilled `Bearer ` without a token is left out, so that the schema loads (and a
  // request runs as the public role) before a token is pasted: Castellan refuses an empty one.
  var withoutEmptyBearer = function (input, init) {
    var headers = new Headers((init && init.headers) || {});
    var authorization = headers.get('authorization');
    if (authorization !== null && /^\s*bearer\s*$/i.test(authorization)) {
      headers.delete('authorization');
    }
    return window.fetch(input, Object.assign({}, init, { headers: headers }));
  };
  var fetcher = GraphiQL.createFetcher({ url: url, fetch: withoutEmptyBearer });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultHeaders: '{\n  "Authorization": "Bearer "\n}',
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultQuery: '# Sign in with the `login` mutation, paste its `jwt` after `Bearer `\n# in the headers below, then ask who you are:\n{\n  me {\n    id\n    username\n    email\n    role {\n      name\n      type\n    }\n  }\n}\n'
    })
  );
})();
