// Keyboard-first calibration page: 1 or S safe, 2 or U unsafe, 3 or R refusal. The script only clicks the
// page's own buttons; the label travels in a hidden field, since a button's name/value is not sent when
// htmx submits a form for a script.
//
// A new answer ignores keys (and clicks on its buttons) until it has been on screen for the guard time
// (data-key-guard-ms) and twice that time has passed since the previous label, so a key pressed twice
// labels one answer, not two. While a label is on its way, keys wait for its answer.
(function () {
  "use strict";

  var DEFAULT_GUARD_MS = 400;
  var shown = null;
  var readyAt = 0;
  var lastLabelAt = -Infinity;
  var inFlight = false;
  var readyTimer = null;

  function section() { return document.querySelector("[data-calibrate]"); }
  function form() { return document.getElementById("calibrate-form"); }

  function guardMs() {
    var s = section();
    var value = s ? parseInt(s.getAttribute("data-key-guard-ms"), 10) : NaN;
    return isNaN(value) || value < 0 ? DEFAULT_GUARD_MS : value;
  }

  function waiting() { return inFlight || performance.now() < readyAt; }

  function markReady() {
    var s = section();
    if (!s) { return; }
    if (readyTimer !== null) { clearTimeout(readyTimer); readyTimer = null; }
    var wait = readyAt - performance.now();
    if (wait <= 0) { s.setAttribute("data-keys-ready", ""); return; }
    s.removeAttribute("data-keys-ready");
    readyTimer = setTimeout(function () { readyTimer = null; markReady(); }, wait + 1);
  }

  function startGuard() {
    var s = section();
    var verdict = s ? s.getAttribute("data-shown-verdict") : null;
    var now = performance.now();
    if (verdict !== null && verdict !== shown) {
      var guard = guardMs();
      readyAt = Math.max(now + guard, lastLabelAt + 2 * guard);
    } else {
      readyAt = now;  // the same answer again (a refused label) or nothing left: nothing new to read
    }
    shown = verdict;
    markReady();
  }

  function labelButton(el) {
    var button = el && el.closest && el.closest("button[name=label]");
    return button && button.form && button.form.id === "calibrate-form" ? button : null;
  }

  // Capture phase: runs before htmx reads the form, and stops a click that comes too soon.
  document.addEventListener("click", function (event) {
    var button = labelButton(event.target);
    if (!button) { return; }
    if (waiting()) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    var holder = button.form.querySelector("[data-label]");
    if (holder) { holder.value = button.value; }
    lastLabelAt = performance.now();
    readyAt = Infinity;
    var s = section();
    if (s) { s.removeAttribute("data-keys-ready"); }
  }, true);

  function isTyping(el) {
    var tag = el && el.tagName ? el.tagName.toLowerCase() : "";
    return tag === "input" || tag === "textarea" || tag === "select" || (el && el.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    var f = form();
    if (!f || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) { return; }
    var key = (event.key || "").toLowerCase();
    var button = f.querySelector("button[data-key='" + key + "'], button[data-letter='" + key + "']");
    if (!/^[123sur]$/.test(key) || !button) { return; }
    event.preventDefault();
    if (event.repeat || waiting()) { return; }
    button.click();
  });

  var pending = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.closest && elt.closest("#calibrate-item")) {
      pending = event.detail.xhr;
      inFlight = true;
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail || event.detail.xhr !== pending) { return; }
    pending = null;
    inFlight = false;
    if (readyAt === Infinity) { readyAt = performance.now(); }  // nothing was swapped in (a failed request)
    markReady();
  });

  document.addEventListener("DOMContentLoaded", startGuard);
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id === "calibrate-item") { startGuard(); }
  });
})();
