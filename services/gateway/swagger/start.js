// A file, not an inline script: the docs page keeps the page's Content-Security-Policy.
// No validator badge: it would send the API description to a third party.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
});
