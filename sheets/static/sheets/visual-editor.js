/* The visual editor: list values as chips (× removes, + adds; lists compared with
   Supplier.BackendID or Supplier.ID add through a searchable OU picker). Each list
   keeps its values as JSON in a hidden input, which the form sends; a value still
   being typed goes with a save (Save or Ctrl+S). A refused save puts the focus on
   the first value it names; each named value's link goes to it. */
(function () {
  "use strict";

  var picker = document.getElementById("ou-picker");
  var search = document.getElementById("ou-picker-search");
  var results = document.getElementById("ou-picker-results");
  var picking = null; // the chips element the picker adds to

  function values(chips) {
    return Array.prototype.map.call(chips.querySelectorAll(".chip-value"), function (el) {
      return el.textContent;
    });
  }

  function store(chips) {
    chips.querySelector("input[type=hidden]").value = JSON.stringify(values(chips));
  }

  function addChip(chips, value) {
    value = value.trim();
    if (!value || values(chips).indexOf(value) !== -1) {
      return;
    }
    var chip = document.createElement("span");
    chip.className = "chip";
    var text = document.createElement("span");
    text.className = "chip-value";
    text.textContent = value;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.setAttribute("aria-label", "Remove " + value);
    remove.textContent = "×";
    chip.appendChild(text);
    chip.appendChild(remove);
    chips.insertBefore(chip, chips.querySelector(".chip-add"));
    store(chips);
  }

  function typeValue(chips, addButton) {
    var input = document.createElement("input");
    input.type = "text";
    input.className = "chip-input";
    input.setAttribute("aria-label", "New value");
    if (chips.dataset.itemKind === "number") {
      input.inputMode = "decimal";
    }
    addButton.hidden = true;
    chips.insertBefore(input, addButton);
    input.focus();
    var done = false;
    function finish(keep) {
      if (done) {
        return;
      }
      done = true;
      if (keep) {
        addChip(chips, input.value);
      }
      input.remove();
      addButton.hidden = false;
      addButton.focus();
    }
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        finish(false);
      }
    });
    input.addEventListener("blur", function () {
      finish(true);
    });
  }

  var lookupTimer = null;
  function lookup() {
    clearTimeout(lookupTimer);
    lookupTimer = setTimeout(function () {
      var url = picker.dataset.url + "?q=" + encodeURIComponent(search.value);
      fetch(url, { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          results.innerHTML = "";
          (data.results || []).forEach(function (unit) {
            var item = document.createElement("li");
            var button = document.createElement("button");
            button.type = "button";
            button.className = "picker-choice";
            var value = picking && picking.dataset.picker === "id" ? String(unit.id) : unit.backend_id;
            button.dataset.value = value;
            button.textContent = unit.backend_id + " · " + unit.name + " (" + unit.type + ", ID " + unit.id + ")";
            item.appendChild(button);
            results.appendChild(item);
          });
          if (!results.children.length) {
            results.innerHTML = '<li class="muted">No organization unit matches.</li>';
          }
        })
        .catch(function (error) { console.error("OU lookup failed:", error); });
    }, 200);
  }

  document.addEventListener("click", function (event) {
    var remove = event.target.closest(".chip-remove");
    if (remove) {
      var chips = remove.closest(".chips");
      remove.closest(".chip").remove();
      store(chips);
      chips.querySelector(".chip-add").focus();
      return;
    }
    var add = event.target.closest(".chip-add");
    if (add) {
      var list = add.closest(".chips");
      if (list.dataset.picker && picker) {
        picking = list;
        search.value = "";
        results.innerHTML = "";
        picker.showModal();
        search.focus();
        lookup();
      } else {
        typeValue(list, add);
      }
      return;
    }
    var choice = event.target.closest(".picker-choice");
    if (choice && picking) {
      addChip(picking, choice.dataset.value);
      picker.close();
    }
  });

  if (search) {
    search.addEventListener("input", lookup);
  }

  var form = document.getElementById("visual-form");
  if (form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.querySelectorAll(".chip-input"), function (input) {
        addChip(input.closest(".chips"), input.value);
      });
    });
  }

  function focusSlot(id) {
    var field = document.getElementById("slot-" + id);
    if (field) {
      field.focus();
      field.scrollIntoView({ block: "center" });
    }
  }
  var refused = document.querySelectorAll("#visual-errors a.refused");
  Array.prototype.forEach.call(refused, function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      focusSlot(link.dataset.slot);
    });
  });
  if (refused.length) {
    focusSlot(refused[0].dataset.slot);
  }
})();
