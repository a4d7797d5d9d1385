// PlanGraph: the step graph of an order's fulfilment plans, as SVG, laid out by
// dagre (@dagrejs/dagre: layered, left to right). Bundled by build.mjs into
// orders/static/orders/plan-graph.js (global PlanGraph).
//
// Contract (frontend/README.md, "The plan graph"):
//   PlanGraph.render(container, data, options) -> handle {select, filter, destroy}
//   PlanGraph.filter(container, {manual, fatallyFailed, inProgress, atRisk, pending}) -> ids shown
//   PlanGraph.select(container, stepId)
// data = {"plans": [{id, group, version, state, steps: [...], edges: [{from, to, scope}]}]}
// (a step: id, key, name, type, line, state, attempts, next_run_at, at_risk, assignee,
// queue, done_by, waits_for, holds, error)
// (the JSON of /orders/<pk>/plan.json). Every state is written out in words as well
// as coloured; every step is a focusable button whose aria-label holds all its text.
import dagre from "@dagrejs/dagre";

const SVG = "http://www.w3.org/2000/svg";

export const STATES = {
  Pending: "Pending",
  Ready: "Ready",
  Scheduled: "Scheduled",
  InProgress: "In Progress",
  Completed: "Completed",
  Failed: "Failed",
  FatallyFailed: "Fatally Failed",
  Skipped: "Skipped",
  Canceled: "Canceled",
  Discarded: "Discarded",
};

export const PLAN_STATES = {
  NotStarted: "Not Started",
  InProgress: "In Progress",
  Freezing: "Freezing",
  Frozen: "Frozen",
  Completed: "Completed",
};

export const TYPES = {
  AUTO_TASK: "Auto task",
  CALLOUT: "Callout",
  MANUAL: "Manual task",
  MILESTONE: "Milestone",
  PAUSE: "Pause",
};

// Filter name -> [label, predicate]. A step is shown when it matches any filter
// that is on; with none on, every step is shown.
export const FILTERS = {
  manual: ["Manual", (s) => s.type === "MANUAL"],
  fatallyFailed: ["Fatally failed", (s) => s.state === "FatallyFailed"],
  inProgress: ["In progress", (s) => s.state === "InProgress"],
  atRisk: ["At risk", (s) => s.at_risk === true],
  pending: ["Pending", (s) => s.state === "Pending"],
};

const NODE_WIDTH = 232;
const PAD = 10;
const NAME_CHARS = 27;
const TEXT_CHARS = 34;
const BADGE_CHAR = 6.4; // px per character of an 11px badge, a generous estimate
const CLUSTER_PAD = 10;
const CLUSTER_LABEL = 22;

const graphs = new WeakMap();
let counter = 0;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function html(name, attrs = {}, text) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function cut(text, chars) {
  return text.length > chars ? text.slice(0, chars - 1) + "\u2026" : text;
}

function slug(text) {
  return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-");
}

export function stateLabel(state) {
  return STATES[state] || String(state || "Unknown");
}

export function planStateLabel(state) {
  return PLAN_STATES[state] || String(state || "");
}

export function typeLabel(type) {
  return TYPES[type] || String(type || "Step");
}

function formatTime(value, options) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  try {
    return new Intl.DateTimeFormat(options.locale || undefined, {
      dateStyle: "medium",
      timeStyle: "short",
      timeZone: options.timeZone || undefined,
    }).format(date);
  } catch (error) {
    return date.toISOString();
  }
}

// The steps a worker runs, in attempts; a person's step, a pause or a milestone has
// none worth counting.
export const AUTOMATIC = new Set(["AUTO_TASK", "CALLOUT"]);

// What a step shows below its state, in order, each [text, kind] ("muted", "error"):
// attempts for an automatic step; who it is assigned to and who did it for a manual
// one; what a pause waits for and whether that holds now.
function details(step, options) {
  const rows = [];
  if (AUTOMATIC.has(step.type)) {
    const attempts = Number(step.attempts) || 0;
    rows.push([`${attempts} ${attempts === 1 ? "attempt" : "attempts"}`, "muted"]);
  }
  if (step.next_run_at) rows.push([`Next run ${formatTime(step.next_run_at, options)}`, "muted"]);
  if (step.assignee) rows.push([`Assigned to ${step.assignee}`, "muted"]);
  else if (step.type === "MANUAL" && step.queue) rows.push([`In the queue ${step.queue}`, "muted"]);
  if (step.done_by) rows.push([`Done by ${step.done_by}`, "muted"]);
  if (step.type === "PAUSE" && step.waits_for) {
    rows.push([`Waits for ${step.waits_for}`, "muted"]);
    const now = step.holds === true ? "Holds now" : step.holds === false ? "Does not hold yet" : "Cannot be read now";
    rows.push([now, "muted"]);
  }
  if (step.error) rows.push([`Error: ${step.error}`, "error"]);
  return rows;
}

// The lines of text a step shows, in order: also its aria-label, joined.
function describe(step, options) {
  const rows = {
    name: String(step.name || step.key || `Step ${step.id}`),
    type: typeLabel(step.type),
    line: step.line === null || step.line === undefined || step.line === "" ? "" : `Line ${step.line}`,
    state: stateLabel(step.state),
    atRisk: step.at_risk === true,
    details: details(step, options),
  };
  const label = [
    rows.name,
    rows.type,
    rows.line,
    `State: ${rows.state}`,
    rows.atRisk ? "At risk" : "",
    ...rows.details.map(([text]) => text),
  ]
    .filter(Boolean)
    .join(", ");
  return { rows, label };
}

function nodeHeight(rows) {
  // name, badges, state; then the first detail 18 below the state, each next 16.
  const details = rows.details.length;
  return PAD + 18 + 24 + 24 + (details ? 18 + 16 * (details - 1) : 0) + PAD - 4;
}

function badge(parent, x, y, text, kind) {
  const width = Math.ceil(text.length * BADGE_CHAR + 14);
  const g = el("g", { class: `plan-graph-badge plan-graph-badge-${kind}`, transform: `translate(${x},${y})` });
  g.append(el("rect", { width, height: 18, rx: 9, ry: 9 }), el("text", { x: 7, y: 13 }, text));
  parent.append(g);
  return x + width + 6;
}

// A path through the points, one cubic curve per stretch with horizontal tangents at
// both ends: with points that go left to right it never loops back, and it leaves
// and enters the boxes horizontally.
function pathThrough(points) {
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length; i += 1) {
    const p = points[i - 1];
    const q = points[i];
    const mid = round((p.x + q.x) / 2);
    d += `C${mid},${p.y} ${mid},${q.y} ${q.x},${q.y}`;
  }
  return d;
}

function round(value) {
  return Math.round(value * 10) / 10;
}

function message(container, text) {
  const box = html("div", { class: "plan-graph" });
  box.append(html("p", { class: "plan-graph-empty" }, text));
  container.replaceChildren(box);
  graphs.delete(container);
  return { select() {}, filter() { return []; }, destroy() { container.replaceChildren(); } };
}

export function render(container, data, options = {}) {
  if (!container || typeof container.append !== "function") {
    throw new TypeError("PlanGraph.render: the first argument must be an element to draw into.");
  }
  const plans = data && Array.isArray(data.plans) ? data.plans : null;
  if (plans === null) return message(container, "The plan could not be drawn: the data has no list of plans.");
  if (plans.every((plan) => !plan || !Array.isArray(plan.steps) || plan.steps.length === 0)) {
    return message(container, "This order has no fulfilment plan yet.");
  }
  // Drawn again into the same container (the page refreshing the plan): the
  // filters, the selection and the scroll position stay as they were.
  const previous = graphs.get(container);
  const keep = previous
    ? { active: previous.active, selected: previous.selected, scroll: previous.scroller && [previous.scroller.scrollLeft, previous.scroller.scrollTop] }
    : null;
  counter += 1;
  const uid = `plan-graph-${counter}`;

  const g = new dagre.graphlib.Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 44, ranksep: 64, edgesep: 16, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));

  const steps = new Map(); // id -> {step, plan, rows, label}
  for (const plan of plans) {
    if (!plan || !Array.isArray(plan.steps)) continue;
    const cluster = `plan:${plan.id}`;
    g.setNode(cluster, { plan });
    for (const step of plan.steps) {
      const id = String(step.id);
      const { rows, label } = describe(step, options);
      steps.set(id, { step, plan, rows, label });
      g.setNode(id, { width: NODE_WIDTH, height: nodeHeight(rows) });
      g.setParent(id, cluster);
    }
  }
  // An edge from or to a step of a plan not in the data (a cross-plan dependency
  // on another order's plan) gets a small placeholder box.
  const externals = new Set();
  const edges = [];
  const seen = new Set();
  for (const plan of plans) {
    for (const edge of (plan && Array.isArray(plan.edges) && plan.edges) || []) {
      const from = String(edge.from);
      const to = String(edge.to);
      if (from === to) continue;
      for (const end of [from, to]) {
        if (!steps.has(end) && !externals.has(end)) {
          externals.add(end);
          g.setNode(end, { width: 150, height: 46, external: true });
        }
      }
      const scope = String(edge.scope || "PLAN");
      const key = `${from}>${to}>${scope}`;
      if (seen.has(key)) continue; // listed in both plans' edges
      seen.add(key);
      const name = `${edges.length}`;
      edges.push({ from, to, scope, name });
      g.setEdge(from, to, { minlen: 1 }, name);
    }
  }
  dagre.layout(g);

  const width = Math.ceil(g.graph().width || 0);
  const clusters = [];
  let height = Math.ceil(g.graph().height || 0);
  for (const plan of plans) {
    const children = (plan && Array.isArray(plan.steps) ? plan.steps : []).map((s) => g.node(String(s.id)));
    if (children.length === 0) continue;
    const left = Math.min(...children.map((n) => n.x - n.width / 2)) - CLUSTER_PAD;
    const right = Math.max(...children.map((n) => n.x + n.width / 2)) + CLUSTER_PAD;
    const top = Math.min(...children.map((n) => n.y - n.height / 2)) - CLUSTER_PAD - CLUSTER_LABEL;
    const bottom = Math.max(...children.map((n) => n.y + n.height / 2)) + CLUSTER_PAD;
    clusters.push({ plan, left, right, top, bottom });
  }
  // Room for the first plan's label above it.
  const shiftY = Math.max(0, 4 - Math.min(...clusters.map((c) => c.top)));
  height += shiftY;
  const viewWidth = Math.max(width, ...clusters.map((c) => Math.ceil(c.right + 8)));
  height = Math.max(height, ...clusters.map((c) => Math.ceil(c.bottom + shiftY + 8)));

  const root = html("div", { class: "plan-graph", id: uid });
  let filterBox = null;
  if (options.controls !== false) {
    filterBox = html("fieldset", { class: "plan-graph-filters" });
    filterBox.append(html("legend", {}, "Show only"));
    for (const [name, [text]] of Object.entries(FILTERS)) {
      const label = html("label", { class: "plan-graph-filter" });
      const input = html("input", { type: "checkbox", name, "data-filter": name });
      label.append(input, document.createTextNode(` ${text}`));
      filterBox.append(label);
    }
    root.append(filterBox);
  }
  const status = html("p", { class: "plan-graph-status", role: "status", "aria-live": "polite" });
  root.append(status);
  const scroller = html("div", {
    class: "plan-graph-scroll",
    tabindex: "0",
    role: "region",
    "aria-label": options.label || "Plan steps",
  });
  const svg = el("svg", {
    class: "plan-graph-svg",
    xmlns: SVG,
    width: viewWidth,
    height,
    viewBox: `0 0 ${viewWidth} ${height}`,
    role: "group",
    "aria-label": `${steps.size} ${steps.size === 1 ? "step" : "steps"} in ${clusters.length} ${clusters.length === 1 ? "plan" : "plans"}`,
  });
  const defs = el("defs");
  for (const kind of ["plan", "line", "cross-plan"]) {
    const marker = el("marker", {
      id: `${uid}-arrow-${kind}`,
      class: `plan-graph-arrow plan-graph-arrow-${kind}`,
      viewBox: "0 0 10 10",
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: "auto-start-reverse",
    });
    marker.append(el("path", { d: "M0,0L10,5L0,10z" }));
    defs.append(marker);
  }
  svg.append(defs);
  const layer = el("g", { transform: `translate(0,${shiftY})` });
  svg.append(layer);

  const clusterLayer = el("g", { class: "plan-graph-plans" });
  for (const c of clusters) {
    const title = [
      c.plan.group || `Plan ${c.plan.id}`,
      c.plan.version !== undefined && c.plan.version !== null ? `version ${c.plan.version}` : "",
      planStateLabel(c.plan.state),
    ]
      .filter(Boolean)
      .join(" \u00b7 ");
    const group = el("g", { class: "plan-graph-plan", "data-plan-id": c.plan.id });
    group.append(
      el("rect", { x: round(c.left), y: round(c.top), width: round(c.right - c.left), height: round(c.bottom - c.top), rx: 10, ry: 10 }),
      el("text", { class: "plan-graph-plan-label", x: round(c.left + 12), y: round(c.top + 16) }, cut(title, Math.floor((c.right - c.left - 24) / 7))),
      el("title", {}, title),
    );
    clusterLayer.append(group);
  }
  layer.append(clusterLayer);

  const edgeLayer = el("g", { class: "plan-graph-edges" });
  const edgeEls = [];
  for (const edge of edges) {
    const info = g.edge(edge.from, edge.to, edge.name);
    const raw = (info && info.points) || [];
    if (raw.length < 2) continue;
    // dagre ends an edge where it crosses the box's border, top or bottom included;
    // here it leaves the middle of the right side and enters the middle of the left,
    // so that every arrow reads left to right (dagre's bends in between are kept).
    const a = g.node(edge.from);
    const b = g.node(edge.to);
    const first = { x: a.x + a.width / 2, y: a.y };
    const last = { x: b.x - b.width / 2, y: b.y };
    const points = [first];
    // dagre's bends on the way (around the boxes of the ranks an edge crosses); on
    // adjacent ranks one curve is enough.
    if (raw.length > 3) {
      for (const p of raw.slice(1, -1)) {
        if (p.x > points[points.length - 1].x + 8 && p.x < last.x - 8) points.push(p);
      }
    }
    points.push(last);
    const kind = slug(edge.scope) === "cross-plan" ? "cross-plan" : slug(edge.scope) === "line" ? "line" : "plan";
    const name = (id) => (steps.has(id) ? steps.get(id).rows.name : `step ${id}`);
    const path = el("path", {
      class: `plan-graph-edge plan-graph-edge-${kind}`,
      d: pathThrough(points.map((p) => ({ x: round(p.x), y: round(p.y) }))),
      "marker-end": `url(#${uid}-arrow-${kind})`,
      "stroke-dasharray": kind === "cross-plan" ? "6 4" : undefined,
      "data-from": edge.from,
      "data-to": edge.to,
      "data-scope": edge.scope,
    });
    path.append(el("title", {}, `${name(edge.from)} \u2192 ${name(edge.to)} (${kind.replace("-", " ")})`));
    edgeLayer.append(path);
    edgeEls.push({ path, edge });
  }
  layer.append(edgeLayer);

  const nodeLayer = el("g", { class: "plan-graph-nodes" });
  const nodeEls = new Map();
  const externalEls = [];
  // Tab order follows the drawing: left to right, then top to bottom.
  const order = [...steps.keys(), ...externals].sort((a, b) => {
    const na = g.node(a);
    const nb = g.node(b);
    return na.x - nb.x || na.y - nb.y;
  });
  for (const id of order) {
    const n = g.node(id);
    const x = round(n.x - n.width / 2);
    const y = round(n.y - n.height / 2);
    if (externals.has(id)) {
      const group = el("g", { class: "plan-graph-node plan-graph-external", transform: `translate(${x},${y})`, "data-step-id": id });
      group.append(
        el("rect", { class: "plan-graph-box", width: n.width, height: n.height, rx: 8, ry: 8 }),
        el("text", { class: "plan-graph-muted", x: PAD, y: 19 }, `Step ${id}`),
        el("text", { class: "plan-graph-muted", x: PAD, y: 36 }, "in another plan"),
        el("title", {}, `Step ${id}, in another plan`),
      );
      nodeLayer.append(group);
      externalEls.push(group);
      continue;
    }
    const { step, rows, label } = steps.get(id);
    const stateSlug = slug(step.state || "unknown").replace(/-/g, "");
    const group = el("g", {
      class: `plan-graph-node plan-graph-state-${stateSlug}${rows.atRisk ? " plan-graph-at-risk" : ""}`,
      transform: `translate(${x},${y})`,
      tabindex: "0",
      role: "button",
      "aria-pressed": "false",
      "aria-label": label,
      "data-step-id": id,
      "data-state": step.state,
      "data-type": step.type,
    });
    group.append(el("rect", { class: "plan-graph-box", width: n.width, height: n.height, rx: 8, ry: 8 }));
    group.append(el("rect", { class: "plan-graph-stripe", x: 0, y: 8, width: 4, height: n.height - 16, rx: 2 }));
    group.append(el("text", { class: "plan-graph-name", x: PAD + 2, y: PAD + 13 }, cut(rows.name, NAME_CHARS)));
    let bx = PAD + 2;
    const badgesY = PAD + 20;
    bx = badge(group, bx, badgesY, rows.type, "type");
    if (rows.line) bx = badge(group, bx, badgesY, rows.line, "line");
    if (rows.atRisk) badge(group, bx, badgesY, "At risk", "at-risk");
    const stateY = badgesY + 24;
    const pill = el("g", { class: "plan-graph-state", transform: `translate(${PAD + 2},${stateY})` });
    const pillWidth = Math.ceil((rows.state.length + 2) * BADGE_CHAR + 14);
    pill.append(
      el("rect", { width: pillWidth, height: 18, rx: 4, ry: 4 }),
      el("circle", { cx: 9, cy: 9, r: 3.5 }),
      el("text", { x: 17, y: 13 }, rows.state),
    );
    group.append(pill);
    let ty = stateY + 20;
    for (const [text, kind] of rows.details) {
      ty += 16;
      group.append(el("text", { class: `plan-graph-${kind}`, x: PAD + 2, y: ty }, cut(text, TEXT_CHARS)));
    }
    group.append(el("title", {}, label));
    nodeLayer.append(group);
    nodeEls.set(id, group);
  }
  layer.append(nodeLayer);
  scroller.append(svg);
  root.append(scroller);
  container.replaceChildren(root);

  const state = { steps, nodeEls, externalEls, edgeEls, status, filterBox, scroller, options, selected: null, active: {} };

  const choose = (id) => {
    const entry = steps.get(id);
    if (!entry) return;
    mark(state, id);
    if (typeof options.onSelect === "function") options.onSelect(entry.step);
  };
  state.choose = choose;
  nodeLayer.addEventListener("click", (event) => {
    const node = event.target.closest && event.target.closest(".plan-graph-node[data-step-id]");
    if (node && nodeEls.has(node.getAttribute("data-step-id"))) choose(node.getAttribute("data-step-id"));
  });
  nodeLayer.addEventListener("keydown", (event) => {
    const node = event.target.closest && event.target.closest(".plan-graph-node[data-step-id]");
    if (!node || !nodeEls.has(node.getAttribute("data-step-id"))) return;
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      choose(node.getAttribute("data-step-id"));
    }
  });
  if (filterBox) {
    filterBox.addEventListener("change", () => {
      const active = {};
      for (const input of filterBox.querySelectorAll("input[data-filter]")) active[input.dataset.filter] = input.checked;
      applyFilter(container, state, active);
    });
  }
  graphs.set(container, state);
  applyFilter(container, state, keep ? keep.active : {});
  if (keep && keep.selected !== null && nodeEls.has(keep.selected)) mark(state, keep.selected);
  if (keep && keep.scroll) [scroller.scrollLeft, scroller.scrollTop] = keep.scroll;
  return {
    select: (id) => select(container, id),
    filter: (active) => filter(container, active),
    destroy: () => {
      graphs.delete(container);
      container.replaceChildren();
    },
  };
}

function mark(state, id) {
  state.selected = id;
  for (const [other, node] of state.nodeEls) {
    const on = other === id;
    node.setAttribute("aria-pressed", on ? "true" : "false");
    node.classList.toggle("is-selected", on);
  }
}

function applyFilter(container, state, active) {
  const on = Object.keys(FILTERS).filter((name) => active && active[name] === true);
  state.active = Object.fromEntries(on.map((name) => [name, true]));
  const shown = [];
  for (const [id, { step }] of state.steps) {
    const node = state.nodeEls.get(id);
    const match = on.length === 0 || on.some((name) => FILTERS[name][1](step));
    node.classList.toggle("is-dimmed", !match);
    node.setAttribute("data-dimmed", match ? "false" : "true");
    if (match) shown.push(step.id);
  }
  // A placeholder for another plan's step matches no filter.
  for (const node of state.externalEls) node.classList.toggle("is-dimmed", on.length > 0);
  const dimmed = new Set([...state.nodeEls].filter(([, n]) => n.classList.contains("is-dimmed")).map(([id]) => id));
  for (const { path, edge } of state.edgeEls) {
    path.classList.toggle("is-dimmed", on.length > 0 && (dimmed.has(edge.from) || dimmed.has(edge.to) || !state.steps.has(edge.from) || !state.steps.has(edge.to)));
  }
  if (state.filterBox) {
    for (const input of state.filterBox.querySelectorAll("input[data-filter]")) input.checked = on.includes(input.dataset.filter);
  }
  const total = state.nodeEls.size;
  state.status.textContent =
    on.length === 0
      ? `${total} ${total === 1 ? "step" : "steps"}.`
      : `Showing ${shown.length} of ${total} steps: ${on.map((name) => FILTERS[name][0].toLowerCase()).join(" or ")}.`;
  return shown;
}

// Dims every step that matches none of the filters that are on (true); with none
// on, nothing is dimmed. Returns the ids of the steps left undimmed.
export function filter(container, active) {
  const state = graphs.get(container);
  if (!state) return [];
  return applyFilter(container, state, active || {});
}

// Selects a step as a click would (calls options.onSelect).
export function select(container, stepId) {
  const state = graphs.get(container);
  if (state) state.choose(String(stepId));
}

export const version = dagre.version;
