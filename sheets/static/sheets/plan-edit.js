/* The step group edit page (sheets/templates/sheets/plans/edit.html): add and remove
   step and dependency rows of the two Django formsets (prefixes "step" and "dep"),
   renumbering the rows' fields so the formsets read them in order; add and remove a
   manual step's assignment rules (fields step-N-rule-M-..., numbered from 0 in order);
   and show a step's callout, pause and manual fields only for those types. No
   external assets. */
(function () {
  "use strict";

  var form = document.getElementById("plan-edit");
  if (!form) {
    return;
  }
  var PATTERN = { step: /^step-(\d+|__prefix__)-/, dep: /^dep-(\d+|__prefix__)-/ };

  function container(prefix) {
    return document.querySelector("[data-rows=" + prefix + "]");
  }

  function total(prefix) {
    return form.querySelector("input[name=" + prefix + "-TOTAL_FORMS]");
  }

  function changed() {
    form.dataset.dirty = "1";
  }

  // Each row's fields are named prefix-N-field, N its place: after a removal they are
  // renamed so that the formset finds 0..count-1.
  function renumber(prefix) {
    var rows = container(prefix).querySelectorAll("[data-row]");
    rows.forEach(function (row, index) {
      row.querySelectorAll("[name], [id], label[for]").forEach(function (element) {
        ["name", "id", "for"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value) {
            var bare = value.replace(/^id_/, "");
            if (PATTERN[prefix].test(bare)) {
              var renamed = bare.replace(PATTERN[prefix], prefix + "-" + index + "-");
              element.setAttribute(attribute, value.indexOf("id_") === 0 ? "id_" + renamed : renamed);
            }
          }
        });
      });
      var number = row.querySelector("[data-number]");
      if (number) {
        number.textContent = String(index + 1);
      }
    });
    total(prefix).value = String(rows.length);
  }

  function showTypeFields(row) {
    var type = row.querySelector("select[name$='-type']");
    if (!type) {
      return;
    }
    row.querySelectorAll("[data-for-type]").forEach(function (part) {
      part.hidden = part.getAttribute("data-for-type") !== type.value;
    });
  }

  // A step's rule rows are named step-N-rule-M-field: after an addition or a removal
  // they are renamed so that M runs 0..count-1, and shown numbered from 1.
  var RULE = /-rule-(\d+|__rule__)-/;

  function renumberRules(step) {
    step.querySelectorAll("[data-rule]").forEach(function (rule, index) {
      rule.querySelectorAll("[name], [id], label[for]").forEach(function (element) {
        ["name", "id", "for"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value && RULE.test(value)) {
            element.setAttribute(attribute, value.replace(RULE, "-rule-" + index + "-"));
          }
        });
      });
      var number = rule.querySelector("[data-rule-number]");
      if (number) {
        number.textContent = String(index + 1);
      }
    });
  }

  function addRule(step) {
    var template = document.getElementById("rule-template");
    var key = step.querySelector("input[name$='-key']");
    if (!template || !key) {
      return;
    }
    var prefix = key.getAttribute("name").replace(/-key$/, "-");
    var fragment = template.content.cloneNode(true);
    var rule = fragment.querySelector("[data-rule]");
    rule.querySelectorAll("[name], [id], label[for]").forEach(function (element) {
      ["name", "id", "for"].forEach(function (attribute) {
        var value = element.getAttribute(attribute);
        if (value) {
          element.setAttribute(attribute, value.replace(/step-(\d+|__prefix__)-/, prefix));
        }
      });
    });
    var list = step.querySelector("[data-rules]");
    var button = list.querySelector("[data-add-rule]").parentElement;
    list.insertBefore(fragment, button);
    renumberRules(step);
    changed();
    var first = rule.querySelector("input");
    if (first) {
      first.focus();
    }
  }

  document.querySelectorAll("[data-add-row]").forEach(function (button) {
    button.addEventListener("click", function () {
      var prefix = button.getAttribute("data-add-row");
      var template = document.getElementById(prefix + "-template");
      var fragment = template.content.cloneNode(true);
      var row = fragment.querySelector("[data-row]");
      container(prefix).appendChild(fragment);
      renumber(prefix);
      showTypeFields(row);
      changed();
      var first = row.querySelector("input:not([type=hidden]), select");
      if (first) {
        first.focus();
      }
    });
  });

  form.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-rule]");
    if (add) {
      addRule(add.closest("[data-row]"));
      return;
    }
    var drop = event.target.closest("[data-remove-rule]");
    if (drop) {
      var step = drop.closest("[data-row]");
      drop.closest("[data-rule]").remove();
      renumberRules(step);
      changed();
      return;
    }
    var button = event.target.closest("[data-remove-row]");
    if (!button) {
      return;
    }
    var row = button.closest("[data-row]");
    var prefix = row.parentElement.getAttribute("data-rows");
    row.remove();
    renumber(prefix);
    changed();
  });

  form.addEventListener("change", function (event) {
    if (event.target.matches("select[name$='-type']")) {
      showTypeFields(event.target.closest("[data-row]"));
    }
  });

  container("step").querySelectorAll("[data-row]").forEach(showTypeFields);
})();
