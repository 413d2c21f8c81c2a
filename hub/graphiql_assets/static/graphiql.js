// GraphiQL against this hub's /graphql. The token goes in the Headers tab:
// {"Authorization": "Bearer <token>"} (gridhub token --subject ... prints one).
(function () {
  "use strict";

  var EXAMPLE_QUERY = [
    "# Welcome to gridhub's GraphiQL.",
    "#",
    "# Put a token in the Headers tab below:",
    '#   {"Authorization": "Bearer <token>"}',
    "# In the demo, gridhub token --subject SUBJECT",
    "# prints one (gridhub principals lists them).",
    "# Run the query with Ctrl-Enter or the play button.",
    "",
    "{",
    "  me {",
    "    subject",
    "    roles",
    "  }",
    "}",
    "",
  ].join("\n");

  var url = window.location.origin + window.location.pathname;
  var fetcher = GraphiQL.createFetcher({ url: url });
  ReactDOM.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: EXAMPLE_QUERY,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
    document.getElementById("graphiql"),
  );
})();
