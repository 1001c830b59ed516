// Castellan's GraphiQL page: GraphiQL on this very endpoint, the headers editor open and
// prefilled with the Bearer header a signed-in request needs (paste the JWT after `Bearer `).
(function () {
  var url = window.location.origin + window.location.pathname;
  var fetcher = GraphiQL.createFetcher({ url: url });
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
