/* The preview page: order-number autocomplete, extra stock rows, and the searchable
   picker of rejected OUs that shows one OU's reasons at a time. */
(function () {
  "use strict";

  var order = document.getElementById("id_order");
  var options = document.getElementById("order-options");
  if (order && options) {
    var timer = null;
    order.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(order.dataset.url + "?q=" + encodeURIComponent(order.value), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (data) {
            options.innerHTML = "";
            (data.results || []).forEach(function (found) {
              var option = document.createElement("option");
              option.value = found.number;
              option.label = found.intent;
              options.appendChild(option);
            });
          })
          .catch(function (error) { console.error("Order lookup failed:", error); });
      }, 200);
    });
  }

  var addStock = document.getElementById("add-stock-row");
  if (addStock) {
    addStock.addEventListener("click", function () {
      var rows = document.querySelectorAll("#stock-rows .stock-row");
      var last = rows[rows.length - 1];
      var copy = last.cloneNode(true);
      var index = rows.length;
      copy.querySelectorAll("[name]").forEach(function (field) {
        field.name = field.name.replace(/^stock-\d+-/, "stock-" + index + "-");
        field.id = field.id.replace(/^stock-\d+-/, "stock-" + index + "-");
        if (field.tagName === "INPUT") { field.value = ""; }
        if (field.tagName === "SELECT") { field.selectedIndex = 0; }
      });
      copy.querySelectorAll("label[for]").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/^stock-\d+-/, "stock-" + index + "-");
      });
      last.parentNode.appendChild(copy);
    });
  }

  var select = document.getElementById("excluded-ou");
  var filter = document.getElementById("excluded-filter");
  var panels = document.querySelectorAll("section.reasons[data-ou]");
  function show() {
    panels.forEach(function (panel) {
      panel.hidden = panel.dataset.ou !== select.value;
    });
  }
  if (select) {
    show();
    select.addEventListener("change", show);
  }
  if (filter && select) {
    filter.addEventListener("input", function () {
      var text = filter.value.toLowerCase();
      var first = null;
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) { return; }
        var match = option.textContent.toLowerCase().indexOf(text) !== -1;
        option.hidden = !match;
        if (match && first === null) { first = option; }
      });
      if (first && text) {
        select.value = first.value;
        show();
      }
    });
  }
})();
