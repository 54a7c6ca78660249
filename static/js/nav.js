// The header's menus are <details> (they open without JS); this closes the others when one opens, closes them on
// a click elsewhere or Escape, and marks the link of the current page and its menu.
(function () {
  var menus = function () { return Array.prototype.slice.call(document.querySelectorAll(".nav-menu")); };
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.classList || !opened.classList.contains("nav-menu") || !opened.open) { return; }
    menus().forEach(function (m) { if (m !== opened) { m.open = false; } });
  }, true);
  document.addEventListener("click", function (event) {
    menus().forEach(function (m) { if (m.open && !m.contains(event.target)) { m.open = false; } });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    menus().forEach(function (m) {
      if (m.open) { m.open = false; m.querySelector("summary").focus(); }
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var path = window.location.pathname, best = null, bestLength = 0;
    document.querySelectorAll(".nav a[href]").forEach(function (a) {
      var href = a.getAttribute("href");
      var matches = href === "/" ? path === "/" : path.indexOf(href) === 0;
      if (matches && href.length > bestLength) { best = a; bestLength = href.length; }
    });
    if (!best) { return; }
    best.setAttribute("aria-current", "page");
    var menu = best.closest(".nav-menu");
    if (menu) { menu.classList.add("current"); }
  });
})();
