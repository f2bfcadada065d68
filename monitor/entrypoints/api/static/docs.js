// The loader of /docs (Swagger UI) and /redoc (ReDoc): the pages themselves carry no API information;
// the OpenAPI document needs a token (docs/api.md), so the page asks for one, fetches openapi.json with
// it and renders the document from the files served beside this one (no CDN: offline networks work).
// The token stays in this tab's sessionStorage; Swagger UI sends it with every "Try it out" call.
(function () {
  "use strict";
  var KEY = "samd-monitor-api-token";
  var root = document.getElementById("ui");
  var form = document.getElementById("token-form");
  var input = document.getElementById("token");
  var message = document.getElementById("token-message");
  var viewer = document.body.getAttribute("data-viewer");

  function render(spec, token) {
    form.hidden = true;
    if (viewer === "redoc") {
      window.Redoc.init(spec, { hideDownloadButton: false }, root);
      return;
    }
    window.SwaggerUIBundle({
      spec: spec,
      domNode: root,
      deepLinking: true,
      validatorUrl: null,
      presets: [window.SwaggerUIBundle.presets.apis],
      requestInterceptor: function (request) {
        request.headers.Authorization = "Bearer " + token;
        return request;
      }
    });
  }

  function load(token) {
    message.textContent = "Loading the API description...";
    fetch("openapi.json", { headers: { Authorization: "Bearer " + token } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status === 401 || response.status === 429
            ? "The token was not accepted (" + response.status + ")."
            : "The API description could not be loaded (" + response.status + ").");
        }
        return response.json();
      })
      .then(function (spec) {
        sessionStorage.setItem(KEY, token);
        message.textContent = "";
        render(spec, token);
      })
      .catch(function (error) {
        sessionStorage.removeItem(KEY);
        form.hidden = false;
        message.textContent = error.message;
      });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var token = input.value.trim();
    if (token) {
      load(token);
    }
  });
  var saved = sessionStorage.getItem(KEY);
  if (saved) {
    load(saved);
  }
})();
