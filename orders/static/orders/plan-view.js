/* The order page's plan view: draws the plans' JSON (embedded by the page, the same
 * as /orders/<pk>/plan.json) with PlanGraph, and shows a selected step's attempts and
 * transitions, copied from the table the page renders for browsers without JS. */
(function () {
  "use strict";
  const host = document.getElementById("plan-graph");
  const source = document.getElementById("plan-data");
  if (!host || !source || typeof PlanGraph === "undefined") {
    return; // the table stays: it is the whole plan view without the graph
  }
  const selected = document.getElementById("plan-selected");
  const table = document.getElementById("plan-table");
  const status = document.getElementById("plan-selected-status");

  function show(step) {
    const history = document.getElementById("plan-step-history-" + step.id);
    selected.replaceChildren();
    const heading = document.createElement("h3");
    heading.id = "plan-selected-title";
    heading.textContent = step.name + (step.line ? " (line " + step.line + ")" : "");
    selected.append(heading);
    if (history) {
      const body = history.querySelector(".plan-step-history-body");
      if (body) {
        selected.append(body.cloneNode(true));
      }
    }
    selected.dataset.stepId = String(step.id);
    selected.hidden = false;
    if (status) {
      // Announced once, briefly: the tables below are there to read, not to be read out.
      status.textContent = "Showing the attempts and transitions of " + heading.textContent + ".";
    }
  }

  host.hidden = false;
  PlanGraph.render(host, JSON.parse(source.textContent), {
    onSelect: show,
    label: "Plan steps of this order",
  });
  if (table) {
    table.open = false; // the graph shows the same; the table is one click away
  }
})();
