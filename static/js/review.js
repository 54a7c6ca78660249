// Keyboard-first review page: A accept, E edit & accept, R reject (1–6 picks the reason, Enter confirms),
// S skip, 1–5 severity, T the technique checkboxes (arrows move, Space checks, Esc leaves), Ctrl+Enter
// submits the open panel, Esc leaves a text box. Data never travels through this script: it only clicks
// the page's own buttons and reads its form.
//
// A new item ignores keys (and clicks on its buttons) until the annotator could have seen it: until it has
// been on screen for the guard time (data-key-guard-ms, settings.REVIEW_KEY_GUARD_MS) and twice the guard
// time has passed since the previous decision. The second rule is what catches a key pressed twice: the
// server may answer so fast that the next item is on screen long enough by the time the second press comes.
// While a decision is on its way, keys and clicks wait for its answer.
(function () {
  "use strict";

  var DEFAULT_GUARD_MS = 400;
  var visibleMs = 0;
  var visibleSince = null;
  var shownPrompt = null;   // the prompt the guard last started for
  var readyAt = 0;          // performance.now() from which keys act on the item on screen
  var lastDecisionAt = -Infinity;
  var inFlight = false;
  var readyTimer = null;

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
  function section() { return document.querySelector("[data-review]"); }

  function guardMs() {
    var holder = section() || form();
    var value = holder ? parseInt(holder.getAttribute("data-key-guard-ms"), 10) : NaN;
    return isNaN(value) || value < 0 ? DEFAULT_GUARD_MS : value;
  }

  function waiting() { return inFlight || performance.now() < readyAt; }

  function markReady() {
    var holder = section() || form();
    if (!holder) { return; }
    if (readyTimer !== null) { clearTimeout(readyTimer); readyTimer = null; }
    var wait = readyAt - performance.now();
    if (wait <= 0) { holder.setAttribute("data-keys-ready", ""); return; }
    holder.removeAttribute("data-keys-ready");
    readyTimer = setTimeout(function () { readyTimer = null; markReady(); }, wait + 1);
  }

  // A decision (or skip) is leaving: nothing else may act until the next item has been seen.
  function decided() {
    lastDecisionAt = performance.now();
    readyAt = Infinity;
    // A decision that never left (no request started) must not leave the keys dead.
    setTimeout(function () {
      if (readyAt === Infinity && !inFlight) { readyAt = performance.now(); markReady(); }
    }, 2000);
  }

  function startGuard() {
    var s = section();
    var f = form();
    var prompt = s ? s.getAttribute("data-shown-prompt") : (f ? f.getAttribute("data-shown-prompt") : null);
    var now = performance.now();
    if (prompt !== null && prompt !== shownPrompt) {
      var guard = guardMs();
      readyAt = Math.max(now + guard, lastDecisionAt + 2 * guard);
    } else {
      readyAt = now;  // the same item again (a refused submit) or no item: nothing new to read
    }
    shownPrompt = prompt;
    markReady();
  }

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

  function isReviewButton(el) {
    var button = el && el.closest && el.closest("button");
    if (!button) { return null; }
    var inForm = button.form && button.form.id === "review-form";
    return inForm && (button.type === "submit" || button.hasAttribute("data-action")) ? button : null;
  }

  // Registered before the listeners below, so a click that comes too soon stops here.
  document.addEventListener("click", function (event) {
    var button = isReviewButton(event.target);
    if (!button) { return; }
    if (waiting()) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    if (button.type === "submit") { decided(); }
  }, true);

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
    if (button && holder) { holder.value = decision; fillSeconds(); decided(); f.requestSubmit(button); }
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
    if (form().dataset.mode === mode) { decided(); submitAs(mode); } else { setMode(mode); }
  });

  function isTyping(el) {
    if (!el || !el.tagName) { return false; }
    if (el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable) { return true; }
    return el.tagName === "INPUT" && !/^(radio|checkbox|button|submit|hidden)$/.test(el.type);
  }

  // The technique checkboxes: T enters the group (at the first checked box, else the first), arrows move
  // between boxes, Home/End go to the ends, Space checks or unchecks (the browser's own), Esc or T leaves.
  function techniqueBoxes() {
    var group = document.querySelector("[data-techniques]");
    return group ? Array.prototype.slice.call(group.querySelectorAll("input[type=checkbox]")) : [];
  }

  function techniqueKeys(event, key) {
    var boxes = techniqueBoxes();
    if (!boxes.length) { return false; }
    var at = boxes.indexOf(event.target);
    if (at < 0) {
      if (key !== "t") { return false; }
      var start = boxes.filter(function (b) { return b.checked; })[0] || boxes[0];
      start.focus();
      return true;
    }
    var next = null;
    if (key === "arrowright" || key === "arrowdown") { next = boxes[(at + 1) % boxes.length]; }
    else if (key === "arrowleft" || key === "arrowup") { next = boxes[(at - 1 + boxes.length) % boxes.length]; }
    else if (key === "home") { next = boxes[0]; }
    else if (key === "end") { next = boxes[boxes.length - 1]; }
    else if (key === "escape" || key === "t") { event.target.blur(); return true; }
    if (next === null) { return false; }
    next.focus();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    var f = form();
    var plain = !(event.ctrlKey || event.metaKey || event.altKey);
    var key = (event.key || "").toLowerCase();
    var ours = (event.key === "Enter" && !plain) || (plain && !isTyping(event.target) && /^(a|e|r|s|t|enter|[1-6])$/.test(key));
    if (f && ours && waiting() && !isTyping(event.target)) {
      event.preventDefault();  // too soon after a new item appeared, or a decision is on its way
      return;
    }
    if (plain && !event.repeat && !isTyping(event.target) && techniqueKeys(event, key)) {
      event.preventDefault();
      return;
    }
    if (!f) { return; }
    var mode = f.dataset.mode || "";
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (!waiting()) { submitAs(mode === "edit" ? "edit" : mode === "reject" ? "reject" : "accept"); }
      return;
    }
    if (isTyping(event.target)) {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (!plain || event.repeat) { return; }
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

  // Messages above the page speak of what happened before the item now shown (a "saved" from the last
  // page load beside a refusal of this submit): the item's own flash replaces them.
  function dropStaleMessages() {
    document.querySelectorAll("main > .messages").forEach(function (list) { list.remove(); });
  }

  // The request is recognised by its XMLHttpRequest: when it ends, the element that sent it has been
  // swapped out of the page.
  var pending = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.closest && elt.closest("#review-item") && !elt.closest("#lease-status, #twin, .dup-flag")) {
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

  function init() {
    startTimer();
    syncLabels();
    startGuard();
    var f = form();
    if (f && f.dataset.mode) { setMode(f.dataset.mode); }
  }

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id !== "lease-status" && target.id !== "twin") {
      dropStaleMessages();
      init();
    }
  });
})();
