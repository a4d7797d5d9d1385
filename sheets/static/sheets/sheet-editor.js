/* The advanced editor page: mounts the CodeMirror bundle (SheetEditor) over the
   source textarea, keeps the textarea in sync for the form, lists problems, and
   asks before the fulfillment identifier of a saved sheet is changed. Without
   the bundle the plain textarea still works. */
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
    if (editor) {
      textarea.value = editor.getDoc();
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
