/* The Suite shell: the dark-mode toggle (remembered per user), confirmations,
   filters that apply as soon as they change (data-submit-on-change), the guard on
   unsaved work (form[data-guard]) and Ctrl+S / Cmd+S for the editors' forms
   (form[data-save-key]). */
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  var toggle = document.getElementById("theme-toggle");
  if (toggle) {
    toggle.addEventListener("click", function () {
      var dark = document.documentElement.getAttribute("data-theme") !== "dark";
      document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
      toggle.setAttribute("aria-pressed", dark ? "true" : "false");
      document.dispatchEvent(new CustomEvent("suite:theme", { detail: { dark: dark } }));
      var body = new URLSearchParams({ dark: dark ? "1" : "0" });
      fetch(toggle.dataset.url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      }).catch(function (error) {
        console.error("The theme was not saved:", error);
      });
    });
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });

  // A checkbox among a form's filters applies at once, as a user expects of a tick
  // ("Show inactive sheets"); text fields still wait for the form's button.
  document.querySelectorAll("[data-submit-on-change]").forEach(function (field) {
    field.addEventListener("change", function () {
      if (field.form) {
        field.form.requestSubmit();
      }
    });
  });

  // Unsaved work: a form marked data-guard that was changed (typed into, or told by
  // Suite.markDirty, as the editor does for its CodeMirror text) asks before the
  // page is left, by a link in the Suite or by closing, reloading or going back.
  // Submitting the form itself leaves without asking.
  var guarded = Array.prototype.slice.call(document.querySelectorAll("form[data-guard]"));
  var leaving = false;
  function dirty() {
    return !leaving && guarded.some(function (form) { return form.dataset.dirty === "1"; });
  }
  function markDirty(form) {
    if (form) {
      form.dataset.dirty = "1";
    }
  }
  // Typing in CodeMirror's own fields (its search panel, go to line) changes nothing
  // to save; the editor reports changes to its text with Suite.markDirty.
  function fromEditor(event) {
    return event.target.closest && event.target.closest(".cm-editor");
  }
  guarded.forEach(function (form) {
    form.addEventListener("input", function (event) { if (!fromEditor(event)) { markDirty(form); } });
    form.addEventListener("change", function (event) { if (!fromEditor(event)) { markDirty(form); } });
  });
  // Leaving by submitting: decided on the document, after the form's own listeners
  // (a page's confirm() may still cancel the submit), and only for the form itself,
  // not a form inside it (CodeMirror's go-to-line dialog).
  document.addEventListener("submit", function (event) {
    if (guarded.indexOf(event.target) !== -1 && !event.defaultPrevented) {
      leaving = true;
    }
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[href]");
    if (!link || !dirty() || link.target === "_blank" || link.getAttribute("href").charAt(0) === "#") {
      return;
    }
    if (window.confirm("You have unsaved changes. Leave this page and lose them?")) {
      leaving = true;
    } else {
      event.preventDefault();
    }
  });

  // Ctrl+S / Cmd+S in an editor saves: its form is submitted as its Save button
  // would submit it (page checks and confirmations included), instead of the
  // browser saving the page as a file. Without a Save button (read-only) the key is
  // the browser's. Held down or pressed again while saving, it sends nothing more.
  document.addEventListener("keydown", function (event) {
    if (!(event.ctrlKey || event.metaKey) || event.altKey || event.shiftKey || (event.key || "").toLowerCase() !== "s") {
      return;
    }
    var form = document.querySelector("form[data-save-key]");
    var button = form && form.querySelector("button[type=submit]#save");
    if (!button) {
      return;
    }
    event.preventDefault();
    if (event.repeat || leaving) {
      return;
    }
    form.requestSubmit(button);
  });

  window.Suite = { csrfToken: csrfToken, markDirty: markDirty };
})();
