/* The advanced editor page: mounts the CodeMirror bundle (SheetEditor) over the
   source textarea, keeps the textarea in sync for the form, lists problems, and
   asks before the fulfillment identifier of a saved sheet is changed. Its toolbar
   opens find, replace and go to line, and compares the text as it is now with the
   sheet's active revision (a new tab; nothing is saved). A save (the button, or
   Ctrl+S / Cmd+S: suite.js) puts the cursor back where it was when the page comes
   back, refused or not. Without the bundle the plain textarea still works. */
(function () {
  "use strict";

  var form = document.getElementById("sheet-form");
  var textarea = document.getElementById("id_source");
  var mount = document.getElementById("editor");
  var config = document.getElementById("editor-config");
  var problems = document.getElementById("problems");
  var identifier = document.getElementById("id_fulfillment");
  if (!form || !textarea || !mount || !config) {
    return;
  }

  // The draft: what was typed, kept in this browser until it is saved or discarded,
  // so that nothing is lost to a closed tab, a crash or a session that expired before
  // the save (the sign-in page comes back to the saved text). Offered again on the
  // next visit when it differs from what the page shows.
  var draftKey = "sheet-draft:" + window.location.pathname;
  var draftTimer = null;
  function keepDraft(doc) {
    if (config.dataset.readOnly === "true") {
      return;
    }
    window.clearTimeout(draftTimer);
    draftTimer = window.setTimeout(function () {
      try {
        window.localStorage.setItem(draftKey, JSON.stringify({
          doc: doc, revision: config.dataset.revision, at: new Date().toISOString(),
        }));
      } catch (error) {
        console.error("The draft was not kept:", error);
      }
    }, 300);
  }
  function readDraft() {
    try {
      return JSON.parse(window.localStorage.getItem(draftKey) || "null");
    } catch (error) {
      return null;
    }
  }

  var editor = null;
  if (window.SheetEditor) {
    var catalogue = JSON.parse(document.getElementById("sheet-catalogue").textContent);
    mount.hidden = false;
    textarea.hidden = true;
    editor = window.SheetEditor.create({
      parent: mount,
      doc: textarea.value,
      catalogue: catalogue,
      checkUrl: config.dataset.checkUrl,
      csrfToken: window.Suite.csrfToken(),
      fulfillment: function () {
        return identifier ? identifier.value : "";
      },
      ouLookupUrl: config.dataset.ouLookupUrl,
      readOnly: config.dataset.readOnly === "true",
      dark: document.documentElement.getAttribute("data-theme") === "dark",
      onChange: function (doc) {
        textarea.value = doc;
        window.Suite.markDirty(form);
        keepDraft(doc);
      },
      onDiagnostics: function (found) {
        if (problems) {
          window.SheetEditor.renderProblems(problems, found, editor);
        }
      },
    });
    window.sheetEditor = editor;
    document.addEventListener("suite:theme", function (event) {
      editor.setDark(event.detail.dark);
    });
  }

  if (problems) {
    problems.addEventListener("click", function (event) {
      var button = event.target.closest("button.problem");
      if (!button || !editor) {
        return;
      }
      // renderProblems wires its own buttons; these are the server-rendered ones.
      if (!button.dataset.wired) {
        editor.gotoLine(Number(button.dataset.line), Number(button.dataset.column));
      }
    });
  }

  // The editor's toolbar: find, replace, go to line (the bundle's own panels).
  var toolbar = document.getElementById("editor-toolbar");
  if (toolbar && editor) {
    toolbar.hidden = false;
    toolbar.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-editor]");
      if (!button) {
        return;
      }
      var action = button.dataset.editor;
      if (action === "find") {
        editor.openSearch();
      } else if (action === "replace") {
        editor.openReplace();
      } else if (action === "goto") {
        editor.openGotoLine();
      }
    });
  }

  // Compare: the text, name and identifier as they are now, posted to a new tab.
  var compareForm = document.getElementById("compare-form");
  if (compareForm) {
    compareForm.addEventListener("submit", function () {
      compareForm.elements.source.value = editor ? editor.getDoc() : textarea.value;
      compareForm.elements.name.value = form.elements.name.value;
      compareForm.elements.fulfillment.value = identifier ? identifier.value : "";
    });
  }

  // The cursor across a save: kept for this page and text, put back once it reloads
  // (a refused save shows the same text; a saved one too).
  var cursorKey = "sheet-editor-cursor:" + window.location.pathname;
  if (editor) {
    try {
      var kept = JSON.parse(window.sessionStorage.getItem(cursorKey) || "null");
      window.sessionStorage.removeItem(cursorKey);
      if (kept && kept.doc === editor.getDoc()) {
        editor.setCursor(kept);
      }
    } catch (error) {
      console.error("The cursor was not restored:", error);
    }
  }

  // The preview gets the text as it is now, saved or not.
  var previewForm = document.getElementById("preview-draft-form");
  if (previewForm) {
    previewForm.addEventListener("submit", function () {
      document.getElementById("preview-draft-source").value = editor ? editor.getDoc() : textarea.value;
    });
  }

  // A draft that differs from the text shown: offer it back (the same text: it was
  // saved, or this page shows it already, so it is forgotten).
  var draft = readDraft();
  var offer = document.getElementById("draft-found");
  if (draft && typeof draft.doc === "string") {
    var shown = editor ? editor.getDoc() : textarea.value;
    if (draft.doc === shown || config.dataset.readOnly === "true") {
      window.localStorage.removeItem(draftKey);
    } else if (offer) {
      offer.querySelector("[data-draft-when]").textContent = "typed " + new Date(draft.at).toLocaleString();
      offer.querySelector("[data-draft-base]").textContent = draft.revision && draft.revision !== config.dataset.revision
        ? "; on revision " + draft.revision + ", the sheet is now at revision " + config.dataset.revision
        : "";
      offer.hidden = false;
      offer.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-draft]");
        if (!button) {
          return;
        }
        if (button.dataset.draft === "restore") {
          if (editor) {
            editor.setDoc(draft.doc);
          } else {
            textarea.value = draft.doc;
          }
          textarea.value = draft.doc;
          window.Suite.markDirty(form);
        } else {
          window.localStorage.removeItem(draftKey);
        }
        offer.hidden = true;
      });
    }
  }

  // ?line=N (from a preview's reasons): open the sheet at that line.
  var line = Number(new URLSearchParams(window.location.search).get("line"));
  if (editor && line > 0) {
    editor.gotoLine(line, 1);
  }

  form.addEventListener("submit", function (event) {
    if (event.target !== form) {
      return; // the go-to-line dialog's own form, inside the editor
    }
    if (editor) {
      textarea.value = editor.getDoc();
      try {
        var cursor = editor.getCursor();
        cursor.doc = textarea.value;
        window.sessionStorage.setItem(cursorKey, JSON.stringify(cursor));
      } catch (error) {
        console.error("The cursor was not kept:", error);
      }
    }
    var confirmField = document.getElementById("id_confirm_fulfillment");
    var initial = form.dataset.initialFulfillment;
    if (identifier && confirmField && confirmField.type === "hidden" && identifier.value.trim() !== initial) {
      var ok = window.confirm(
        "Change the fulfillment identifier from " + initial + " to " + identifier.value.trim() + "?\n\n" +
        "Orders already routed by this sheet refer to it by its identifier; changing it can cause " +
        "rerouting issues for them."
      );
      if (!ok) {
        event.preventDefault();
        return;
      }
      confirmField.value = "1";
    }
  });
})();
