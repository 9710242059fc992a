/* Starts Swagger UI on /api/docs: the schema comes from this dashboard (/api/v1/openapi.json,
   written as OpenAPI 3.0 for this Swagger UI at /api/docs/openapi.json), every asset from the
   installed swagger-ui-bundle package (nothing from the internet), and no validator badge
   (it would call validator.swagger.io). */
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
