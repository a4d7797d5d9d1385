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
