// Shipyard's only script: live progress on the service page and copy buttons.
// No inline code anywhere (the CSP allows only this file); everything it needs is in data-* attributes.
(function () {
  "use strict";

  /** Applies one /progress answer to the steps already on the page. */
  function applyProgress(list, progress) {
    var badge = document.getElementById("service-status");
    if (badge) {
      badge.className = "badge " + progress.status;
      badge.textContent = progress.status.replace("_", " ");
    }
    progress.steps.forEach(function (step) {
      var row = list.querySelector('li[data-step="' + step.key + '"]');
      if (!row) return;
      var part = function (name) { return row.querySelector('[data-part="' + name + '"]'); };
      var status = part("status");
      status.className = "badge " + step.status;
      status.textContent = step.status;
      part("duration").textContent = step.duration;
      part("attempts").textContent = step.attempts > 1 ? step.attempts + " attempts" : "";
      var error = part("error");
      error.textContent = step.error || "";
      error.hidden = !step.error;
    });
  }

  /** Polls every second until the service reaches a state only a person can change, then reloads once. */
  function followProgress(list) {
    var url = list.getAttribute("data-progress-url");
    var note = document.getElementById("live-note");
    var refresh = document.getElementById("refresh");
    if (refresh) refresh.hidden = true;
    if (note) note.textContent = "This page updates itself while Shipyard works.";
    var tick = function () {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error("progress answered " + response.status);
          return response.json();
        })
        .then(function (progress) {
          applyProgress(list, progress);
          if (progress.terminal) {
            window.location.reload();
          } else {
            window.setTimeout(tick, 1000);
          }
        })
        .catch(function () {
          // A blip (deploy, network): keep trying, a little slower, and let the person know.
          if (note) note.textContent = "Lost contact with Shipyard; retrying…";
          if (refresh) refresh.hidden = false;
          window.setTimeout(tick, 3000);
        });
    };
    window.setTimeout(tick, 1000);
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  /** Copies the text of the element a button names; where the clipboard is unavailable
   *  (plain http, old browsers, denied permission) it selects the text for Ctrl-C instead. */
  function setUpCopy(button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) return;
      var done = function (label) {
        button.textContent = label;
        window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(target.textContent).then(
          function () { done("Copied"); },
          function () { selectText(target); done("Press Ctrl-C"); }
        );
      } else {
        selectText(target);
        done("Press Ctrl-C");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var list = document.querySelector("[data-progress-url]");
    if (list) followProgress(list);
    document.querySelectorAll("button[data-copy]").forEach(setUpCopy);
  });
})();
