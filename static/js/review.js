// Keyboard-first review page: A accept, E edit & accept, R reject (1–6 picks the reason, Enter confirms),
// S skip, 1–5 severity, Ctrl+Enter submits the open panel, Esc leaves a text box. Data never travels
// through this script: it only clicks the page's own buttons and reads its form.
(function () {
  "use strict";

  var visibleMs = 0;
  var visibleSince = null;

  function startTimer() {
    visibleMs = 0;
    visibleSince = document.hidden ? null : performance.now();
  }

  function secondsSpent() {
    var ms = visibleMs + (visibleSince !== null ? performance.now() - visibleSince : 0);
    return (ms / 1000).toFixed(1);
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      if (visibleSince !== null) { visibleMs += performance.now() - visibleSince; visibleSince = null; }
    } else if (visibleSince === null) {
      visibleSince = performance.now();
    }
  });

  function form() { return document.getElementById("review-form"); }

  function fillSeconds() {
    var input = document.querySelector("#review-form [data-seconds]");
    if (input) { input.value = secondsSpent(); }
  }
  // The decision travels in a hidden field: a button's own name/value is not sent when a script submits
  // the form through htmx. Capture phase, so both run before htmx reads the form.
  function noteDecision(event) {
    var button = event.target.closest && event.target.closest("button[name=decision]");
    var holder = button && button.form && button.form.querySelector("[data-decision]");
    if (holder) { holder.value = button.value; }
  }
  document.addEventListener("submit", fillSeconds, true);
  document.addEventListener("click", function (event) { fillSeconds(); noteDecision(event); }, true);

  function setMode(mode) {
    var f = form();
    if (!f) { return; }
    f.dataset.mode = mode || "";
    f.querySelectorAll("[data-panel]").forEach(function (panel) {
      panel.hidden = panel.getAttribute("data-panel") !== mode;
    });
    if (mode === "edit") {
      var text = f.querySelector("textarea[name=final_text]");
      if (text) { text.focus(); text.setSelectionRange(text.value.length, text.value.length); }
    } else if (mode === "reject") {
      var first = f.querySelector("input[name=reject_reason]:checked") || f.querySelector("input[name=reject_reason]");
      if (first) { first.focus(); }
    }
  }

  function submitAs(decision) {
    var f = form();
    var button = f && f.querySelector('button[name=decision][value="' + decision + '"]');
    var holder = f && f.querySelector("[data-decision]");
    if (button && holder) { holder.value = decision; fillSeconds(); f.requestSubmit(button); }
  }

  function syncLabels() {
    document.querySelectorAll("[data-dimension-select]").forEach(function (dim) {
      var scope = dim.closest("form") || document;
      var sub = scope.querySelector("[data-sub-select]");
      if (sub) {
        Array.prototype.forEach.call(sub.options, function (opt) {
          var owner = opt.getAttribute("data-dimension");
          opt.hidden = owner !== null && owner !== dim.value;
          if (opt.hidden && opt.selected) { sub.value = ""; }
        });
      }
      var chosen = dim.options[dim.selectedIndex];
      var reference = scope.querySelector("[data-reference]");
      if (reference) { reference.hidden = !(chosen && chosen.getAttribute("data-uses-reference") === "1"); }
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-dimension-select]")) { syncLabels(); }
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-action]");
    if (!button || !form()) { return; }
    var mode = button.getAttribute("data-action");
    if (form().dataset.mode === mode) { submitAs(mode); } else { setMode(mode); }
  });

  function isTyping(el) {
    if (!el || !el.tagName) { return false; }
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable) { return true; }
    return el.tagName === "INPUT" && !/^(radio|checkbox|button|submit|hidden)$/.test(el.type);
  }

  document.addEventListener("keydown", function (event) {
    var f = form();
    if (!f) { return; }
    var mode = f.dataset.mode || "";
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submitAs(mode === "edit" ? "edit" : mode === "reject" ? "reject" : "accept");
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    var key = event.key.toLowerCase();
    if (key === "a") {
      event.preventDefault(); submitAs("accept");
    } else if (key === "e") {
      event.preventDefault(); setMode("edit");
    } else if (key === "r") {
      event.preventDefault();
      if (mode === "reject") { submitAs("reject"); } else { setMode("reject"); }
    } else if (key === "s") {
      event.preventDefault();
      var skip = f.querySelector("[data-key=s]");
      if (skip) { fillSeconds(); skip.click(); }
    } else if (key === "escape") {
      setMode("");
    } else if (key === "enter" && mode === "reject") {
      event.preventDefault(); submitAs("reject");
    } else if (/^[1-6]$/.test(key)) {
      var name = mode === "reject" ? "reject_reason" : "severity";
      var radios = f.querySelectorAll("input[name=" + name + "]");
      var radio = radios[parseInt(key, 10) - 1];
      if (radio) { event.preventDefault(); radio.checked = true; radio.focus(); }
    }
  });

  function init() {
    startTimer();
    syncLabels();
    var f = form();
    if (f && f.dataset.mode) { setMode(f.dataset.mode); }
  }

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id !== "lease-status") { init(); }
  });
})();
