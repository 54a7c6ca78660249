// htmx sends the CSRF token from the <body hx-headers> attribute; this keeps it fresh after swaps.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRFToken"] = meta.content; }
});
