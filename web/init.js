// Starts Swagger UI on this server's document. A file of its own, not an
// inline script, so the page's Content-Security-Policy can be default-src 'self'.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
});
