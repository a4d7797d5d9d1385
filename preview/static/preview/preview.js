/* The preview page: order-number and product autocompletes, extra stock rows, the typed
   order's line rows (add, remove), the result brought into view after Preview, and the
   searchable picker of rejected OUs that shows one OU's reasons at a time. */
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

  // The typed order's lines: a product autocomplete on each, rows added and removed.
  var lineRows = document.getElementById("line-rows");
  var productOptions = document.getElementById("product-options");
  function renumberLines() {
    lineRows.querySelectorAll(".line-row").forEach(function (row, index) {
      var prefix = "line-" + index + "-";
      row.querySelectorAll("[name]").forEach(function (field) {
        field.name = field.name.replace(/^line-\d+-/, prefix);
      });
      row.querySelectorAll("[id]").forEach(function (element) {
        element.id = element.id.replace(/^line-\d+-/, prefix);
      });
      row.querySelectorAll("[aria-describedby]").forEach(function (field) {
        field.setAttribute("aria-describedby", field.getAttribute("aria-describedby").replace(/^line-\d+-/, prefix));
      });
      row.querySelectorAll("label[for]").forEach(function (label) {
        label.htmlFor = label.htmlFor.replace(/^line-\d+-/, prefix);
      });
    });
  }
  if (lineRows && productOptions) {
    var productTimer = null;
    lineRows.addEventListener("input", function (event) {
      if (!/-product$/.test(event.target.name || "")) { return; }
      var text = event.target.value;
      clearTimeout(productTimer);
      productTimer = setTimeout(function () {
        fetch(lineRows.dataset.url + "?q=" + encodeURIComponent(text), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (data) {
            productOptions.innerHTML = "";
            (data.results || []).forEach(function (found) {
              var option = document.createElement("option");
              option.value = found.backend_id;
              option.label = found.name;
              productOptions.appendChild(option);
            });
          })
          .catch(function (error) { console.error("Product lookup failed:", error); });
      }, 150);
    });
    lineRows.addEventListener("click", function (event) {
      if (!event.target.classList.contains("remove-line")) { return; }
      var rows = lineRows.querySelectorAll(".line-row");
      var row = event.target.closest(".line-row");
      if (rows.length > 1) {
        row.parentNode.removeChild(row);
        renumberLines();
      } else {  // the last row is emptied, not removed: the form keeps one
        row.querySelectorAll("input").forEach(function (field) { field.value = ""; });
      }
    });
    var addLine = document.getElementById("add-line-row");
    addLine.addEventListener("click", function () {
      var rows = lineRows.querySelectorAll(".line-row");
      var copy = rows[rows.length - 1].cloneNode(true);
      copy.querySelectorAll("input").forEach(function (field) {
        field.value = "";
        field.removeAttribute("aria-invalid");
        field.removeAttribute("aria-describedby");
      });
      copy.querySelectorAll(".error").forEach(function (message) { message.remove(); });
      lineRows.appendChild(copy);
      renumberLines();
      copy.querySelector("input").focus();
    });
  }

  // After Preview, the result (or what stopped it) is what the page shows first.
  var shown = document.getElementById("preview-errors") || document.getElementById("preview-result");
  if (shown) {
    shown.scrollIntoView({ block: "start" });
    var heading = document.getElementById("result-title");
    if (heading && shown.id === "preview-result") { heading.focus({ preventScroll: true }); }
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
