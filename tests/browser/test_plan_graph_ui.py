"""The plan view's step graph (``orders/static/orders/plan-graph.js``, built from
``frontend/src/plan-graph.mjs``) in Chromium, on a blank page with the Suite's
stylesheet: every step drawn once, no boxes overlapping, dependencies left to right,
each state written out, cross-plan dependencies dashed, filters dimming the others,
selection by keyboard and mouse, light and dark themes, and a 390 px wide screen
that scrolls the graph inside its box and never the page.

The data has the shape of ``/orders/<pk>/plan.json`` (docs/plans.md, "Plan view").
No server is needed: the page is set from a string and the bundle added as a file.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "orders" / "static" / "orders" / "plan-graph.js"
CSS = ROOT / "static" / "suite" / "suite.css"

STATES = [
    "Pending",
    "Ready",
    "Scheduled",
    "InProgress",
    "Completed",
    "Failed",
    "FatallyFailed",
    "Skipped",
    "Canceled",
    "Discarded",
]


def step(id: int, key: str, name: str, type: str, state: str, **rest: Any) -> dict[str, Any]:
    return {
        "id": id,
        "key": key,
        "name": name,
        "type": type,
        "line": None,
        "state": state,
        "attempts": 0,
        "next_run_at": None,
        "at_risk": False,
        "assignee": "",
        "error": "",
        **rest,
    }


def edge(a: int, b: int, scope: str = "PLAN") -> dict[str, Any]:
    return {"from": a, "to": b, "scope": scope}


# A diamond (start -> payment, reservation -> pack), a line-scoped pair per line
# (pick line 1 -> ship line 1, pick line 2 -> ship line 2), a fatally failed callout, an
# at-risk manual step, a scheduled review request, and a second plan whose invoice
# waits for the first plan's shipping (cross-plan).
SHIP = {
    "id": 1,
    "group": "Ship from store",
    "version": 2,
    "state": "InProgress",
    "steps": [
        step(
            10,
            "start",
            "Start",
            "MANUAL",
            "Completed",
            assignee="kalverstraat",
            done_by="kalverstraat",
        ),
        step(
            11,
            "payment",
            "Payment captured",
            "PAUSE",
            "Completed",
            waits_for="Order.CustomFields.PaymentStatus = Captured",
            holds=True,
        ),
        step(12, "reserve", "Reserve stock", "AUTO_TASK", "InProgress", attempts=1),
        step(13, "pack", "Pack", "MILESTONE", "Ready"),
        step(14, "pick", "Pick", "MANUAL", "Pending", line=1),
        step(15, "pick", "Pick", "MANUAL", "Pending", line=2),
        step(16, "ship", "Ship", "MANUAL", "Pending", line=1),
        step(17, "ship", "Ship", "MANUAL", "InProgress", line=2, at_risk=True, queue="shop:1187"),
        step(
            18,
            "carrier",
            "Book carrier",
            "CALLOUT",
            "FatallyFailed",
            attempts=3,
            error="HTTP 503 from the carrier",
        ),
        step(
            19,
            "review",
            "Ask for a review",
            "AUTO_TASK",
            "Scheduled",
            next_run_at="2026-12-13T09:30:00Z",
        ),
    ],
    "edges": [
        edge(10, 11),
        edge(10, 12),
        edge(11, 13),
        edge(12, 13),
        edge(13, 14),
        edge(13, 15),
        edge(14, 16, "LINE"),
        edge(15, 17, "LINE"),
        edge(13, 18),
        edge(18, 19),
    ],
}
INVOICE = {
    "id": 2,
    "group": "Invoice",
    "version": 1,
    "state": "NotStarted",
    "steps": [
        step(30, "invoice", "Send the invoice", "CALLOUT", "Pending"),
        step(31, "done", "Invoiced", "MILESTONE", "Pending"),
    ],
    "edges": [edge(17, 30, "CROSS_PLAN"), edge(30, 31)],
}
SMALL = {"plans": [SHIP, INVOICE]}


def forty() -> dict[str, Any]:
    """40 steps in 8 layers of 5, each depending on one or two of the layer before,
    going through every state."""
    steps = []
    edges = []
    for n in range(40):
        layer, slot = divmod(n, 5)
        steps.append(
            step(
                100 + n,
                f"step{n}",
                f"Step number {n} of the long plan",
                ["MANUAL", "AUTO_TASK", "CALLOUT", "MILESTONE", "PAUSE"][slot],
                STATES[n % 10],
                at_risk=n % 7 == 0,
            )
        )
        if layer:
            edges.append(edge(100 + (layer - 1) * 5 + slot, 100 + n))
            edges.append(edge(100 + (layer - 1) * 5 + (slot + 2) % 5, 100 + n))
    return {
        "plans": [
            {
                "id": 9,
                "group": "Long",
                "version": 1,
                "state": "InProgress",
                "steps": steps,
                "edges": edges,
            }
        ]
    }


def open_graph(page: Page, data: dict[str, Any], theme: str = "light") -> None:
    page.set_content(
        f'<!doctype html><html lang="en" data-theme="{theme}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        '<body><main><h1>Order</h1><div id="graph"></div></main></body></html>'
    )
    page.add_style_tag(path=str(CSS))
    page.add_script_tag(path=str(BUNDLE))
    page.evaluate(
        """data => {
            window.selected = [];
            window.graph = PlanGraph.render(document.getElementById("graph"), data, {
                onSelect: step => window.selected.push(step),
                locale: "en-GB",
                timeZone: "UTC",
            });
        }""",
        data,
    )


BOXES = """() => [...document.querySelectorAll('.plan-graph-node')].map(node => {
    const r = node.querySelector('.plan-graph-box').getBoundingClientRect();
    return {id: node.dataset.stepId, left: r.left, right: r.right, top: r.top, bottom: r.bottom};
})"""

EDGES = """() => [...document.querySelectorAll('.plan-graph-edge')].map(path => {
    const length = path.getTotalLength();
    // Screen coordinates, as the boxes' getBoundingClientRect.
    const screen = point => new DOMPoint(point.x, point.y).matrixTransform(path.getScreenCTM());
    const a = screen(path.getPointAtLength(0)), b = screen(path.getPointAtLength(length));
    return {from: path.dataset.from, to: path.dataset.to, scope: path.dataset.scope,
            x0: a.x, x1: b.x, dash: getComputedStyle(path).strokeDasharray,
            marker: path.getAttribute('marker-end')};
})"""


def overlapping(boxes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a["id"], b["id"])
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
        if a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    ]


def all_ids(data: dict[str, Any]) -> list[str]:
    return sorted(str(s["id"]) for plan in data["plans"] for s in plan["steps"])


def all_edges(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (str(e["from"]), str(e["to"]), e["scope"]) for plan in data["plans"] for e in plan["edges"]
    )


@pytest.mark.parametrize("data", [SMALL, forty()], ids=["diamond-lines-cross-plan", "forty-steps"])
def test_every_step_is_drawn_once_without_overlap_and_every_dependency_points_right(
    page: Page, data: dict[str, Any]
) -> None:
    open_graph(page, data)
    boxes = page.evaluate(BOXES)
    assert sorted(box["id"] for box in boxes) == all_ids(data)
    assert overlapping(boxes) == []
    by_id = {box["id"]: box for box in boxes}
    edges = page.evaluate(EDGES)
    assert sorted((e["from"], e["to"], e["scope"]) for e in edges) == all_edges(data)
    for e in edges:
        # The box it depends on ends left of the box that depends on it, and the
        # line runs from the one to the other.
        assert by_id[e["from"]]["right"] < by_id[e["to"]]["left"], e
        assert e["x0"] < e["x1"], e
        assert by_id[e["from"]]["right"] - 1 <= e["x0"] and e["x1"] <= by_id[e["to"]]["left"] + 1, e


def test_each_plan_is_framed_with_its_group_version_and_state(page: Page) -> None:
    open_graph(page, SMALL)
    labels = page.locator(".plan-graph-plan-label")
    expect(labels).to_have_text(
        ["Ship from store · version 2 · In Progress", "Invoice · version 1 · Not Started"]
    )
    expect(page.locator(".plan-graph-status")).to_have_text("12 steps.")
    expect(page.locator(".plan-graph-svg")).to_have_attribute("aria-label", "12 steps in 2 plans")


def test_plans_side_by_side_or_stacked_keep_their_frames_apart(page: Page) -> None:
    returns = {
        "id": 3,
        "group": "Return",
        "version": 4,
        "state": "Completed",
        "steps": [
            step(40, "arrive", "Arrived", "PAUSE", "Completed"),
            step(41, "check", "Check", "MANUAL", "Completed", line=1),
            step(42, "refund", "Refund", "CALLOUT", "Completed", attempts=2),
        ],
        "edges": [edge(40, 41), edge(41, 42)],
    }
    open_graph(page, {"plans": [SHIP, INVOICE, returns]})
    frames = page.evaluate(
        """() => [...document.querySelectorAll('.plan-graph-plan')].map(plan => {
            const r = plan.querySelector('rect').getBoundingClientRect();
            return {id: plan.dataset.planId,
                    left: r.left, right: r.right, top: r.top, bottom: r.bottom};
        })"""
    )
    assert overlapping(frames) == []
    # Each step lies inside its own plan's frame and no other.
    boxes = {box["id"]: box for box in page.evaluate(BOXES)}
    for plan in (SHIP, INVOICE, returns):
        for s in plan["steps"]:
            box = boxes[str(s["id"])]
            inside = [
                f["id"]
                for f in frames
                if f["left"] <= box["left"]
                and box["right"] <= f["right"]
                and f["top"] <= box["top"]
                and box["bottom"] <= f["bottom"]
            ]
            assert inside == [str(plan["id"])], s["id"]


def test_a_step_shows_its_name_type_state_in_words_line_attempts_next_run_and_at_risk(
    page: Page,
) -> None:
    open_graph(page, SMALL)
    label = {
        node.get_attribute("data-step-id"): node.get_attribute("aria-label")
        for node in page.locator(".plan-graph-node[role=button]").all()
    }
    # Attempts only for what a worker runs; a person's step says who, a pause what for.
    assert label["10"] == (
        "Start, Manual task, State: Completed, Assigned to kalverstraat, Done by kalverstraat"
    )
    assert label["11"] == (
        "Payment captured, Pause, State: Completed, Waits for "
        "Order.CustomFields.PaymentStatus = Captured, Holds now"
    )
    assert label["13"] == "Pack, Milestone, State: Ready"
    assert label["17"] == (
        "Ship, Manual task, Line 2, State: In Progress, At risk, In the queue shop:1187"
    )
    assert label["18"] == (
        "Book carrier, Callout, State: Fatally Failed, 3 attempts, Error: HTTP 503 from the carrier"
    )
    assert (
        label["19"]
        == "Ask for a review, Auto task, State: Scheduled, 0 attempts, Next run 13 Dec 2026, 09:30"
    )
    # The same words are drawn, not only read out.
    ship = page.locator('.plan-graph-node[data-step-id="17"]')
    expect(ship.locator("text")).to_have_text(
        ["Ship", "Manual task", "Line 2", "At risk", "In Progress", "In the queue shop:1187"]
    )
    failed = page.locator('.plan-graph-node[data-step-id="18"]')
    expect(failed.locator(".plan-graph-state text")).to_have_text("Fatally Failed")
    expect(failed.locator(".plan-graph-error")).to_have_text("Error: HTTP 503 from the carrier")
    expect(page.locator('.plan-graph-node[data-step-id="19"] text').nth(4)).to_have_text(
        "Next run 13 Dec 2026, 09:30"
    )


def test_every_state_has_its_own_colour_and_its_own_words(page: Page) -> None:
    open_graph(page, forty())
    seen = page.evaluate(
        """() => Object.fromEntries(
          [...document.querySelectorAll('.plan-graph-node[role=button]')].map(node => [
            node.dataset.state,
            [node.querySelector('.plan-graph-state text').textContent,
             getComputedStyle(node.querySelector('.plan-graph-state rect')).fill,
             getComputedStyle(node.querySelector('.plan-graph-state text')).fill],
        ]))"""
    )
    assert {state: words for state, (words, _, _) in seen.items()} == {
        "Pending": "Pending",
        "Ready": "Ready",
        "Scheduled": "Scheduled",
        "InProgress": "In Progress",
        "Completed": "Completed",
        "Failed": "Failed",
        "FatallyFailed": "Fatally Failed",
        "Skipped": "Skipped",
        "Canceled": "Canceled",
        "Discarded": "Discarded",
    }
    # The active states differ in colour from each other; the three ended-without-running
    # states share grey and differ only in words (and a dashed box).
    active = ["Pending", "Ready", "Scheduled", "InProgress", "Completed", "Failed", "FatallyFailed"]
    assert len({(seen[state][1], seen[state][2]) for state in active}) == len(active)


def contrast(a: str, b: str) -> float:
    """WCAG's contrast ratio of two computed ``rgb(r, g, b)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(part) / 255 for part in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_of_a_step_is_readable_in_both_themes(page: Page, theme: str) -> None:
    """WCAG AA (4.5:1) for every text on its own background: the state on its pill,
    the badges, the name, the muted lines and the error, for every state."""
    data = forty()
    data["plans"][0]["steps"][0].update(
        next_run_at="2026-12-13T09:30:00Z", assignee="kalverstraat", error="HTTP 503"
    )
    open_graph(page, data, theme)
    pairs = page.evaluate(
        """() => {
            const fill = el => getComputedStyle(el).fill;
            const out = [];
            for (const node of document.querySelectorAll('.plan-graph-node[role=button]')) {
                const box = fill(node.querySelector('.plan-graph-box'));
                const state = node.querySelector('.plan-graph-state');
                out.push([node.dataset.state + ' state', fill(state.querySelector('text')),
                          fill(state.querySelector('rect'))]);
                for (const badge of node.querySelectorAll('.plan-graph-badge')) {
                    out.push([badge.textContent, fill(badge.querySelector('text')),
                              fill(badge.querySelector('rect'))]);
                }
                for (const text of node.querySelectorAll(
                        ':scope > text')) out.push([text.textContent, fill(text), box]);
            }
            return out;
        }"""
    )
    assert {"Error: HTTP 503", "Assigned to kalverstraat", "At risk"} <= {
        name for name, _, _ in pairs
    }
    poor = sorted(
        {(name, round(contrast(fg, bg), 2)) for name, fg, bg in pairs if contrast(fg, bg) < 4.5}
    )
    assert poor == []


def test_cross_plan_dependencies_are_dashed_and_every_dependency_has_an_arrowhead(
    page: Page,
) -> None:
    open_graph(page, SMALL)
    edges = page.evaluate(EDGES)
    dashed = sorted((e["from"], e["to"]) for e in edges if e["dash"] != "none")
    assert dashed == [("17", "30")]
    assert all(e["marker"] and e["marker"].startswith("url(#plan-graph-") for e in edges)
    markers = page.evaluate(
        "() => [...document.querySelectorAll('marker')]"
        ".map(m => m.querySelector('path').getBBox().width)"
    )
    assert markers and all(width > 0 for width in markers)


def test_a_dependency_on_a_plan_not_shown_gets_a_placeholder_box(page: Page) -> None:
    data = {"plans": [{**INVOICE, "edges": [edge(99, 30, "CROSS_PLAN"), edge(30, 31)]}]}
    open_graph(page, data)
    external = page.locator(".plan-graph-external")
    expect(external).to_have_text("Step 99in another planStep 99, in another plan")
    assert external.get_attribute("tabindex") is None
    # It is no step: any filter dims it.
    page.evaluate("PlanGraph.filter(document.getElementById('graph'), {pending: true})")
    expect(external).to_have_class("plan-graph-node plan-graph-external is-dimmed")


def test_filters_dim_every_step_that_matches_none_of_them(page: Page) -> None:
    open_graph(page, SMALL)

    def dimmed() -> list[str]:
        return sorted(
            node.get_attribute("data-step-id") or ""
            for node in page.locator(".plan-graph-node[data-dimmed=true]").all()
        )

    assert dimmed() == []
    shown = page.evaluate(
        "PlanGraph.filter(document.getElementById('graph'), {fatallyFailed: true, atRisk: true})"
    )
    assert shown == [17, 18]
    assert dimmed() == sorted(set(all_ids(SMALL)) - {"17", "18"})
    expect(page.locator(".plan-graph-status")).to_have_text(
        "Showing 2 of 12 steps: fatally failed or at risk."
    )
    expect(page.get_by_role("checkbox", name="Fatally failed")).to_be_checked()
    expect(page.get_by_role("checkbox", name="Manual")).not_to_be_checked()

    for name, expected in [
        ("manual", {"10", "14", "15", "16", "17"}),
        ("inProgress", {"12", "17"}),
        ("pending", {"14", "15", "16", "30", "31"}),
    ]:
        page.evaluate(f"PlanGraph.filter(document.getElementById('graph'), {{{name}: true}})")
        assert dimmed() == sorted(set(all_ids(SMALL)) - expected), name

    # The checkboxes do the same; unticking the last one shows everything again.
    page.evaluate("PlanGraph.filter(document.getElementById('graph'), {})")
    page.get_by_role("checkbox", name="At risk").check()
    assert dimmed() == sorted(set(all_ids(SMALL)) - {"17"})
    # An edge is dimmed unless both its ends are shown.
    assert page.locator(".plan-graph-edge:not(.is-dimmed)").count() == 0
    page.get_by_role("checkbox", name="At risk").uncheck()
    assert dimmed() == []
    expect(page.locator(".plan-graph-status")).to_have_text("12 steps.")


def test_a_step_is_selected_by_keyboard_or_click_and_handed_to_on_select(page: Page) -> None:
    open_graph(page, SMALL)
    # Tab goes into the graph's box, then to the steps from left to right.
    page.locator("#graph").get_by_role("checkbox", name="Pending").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("region", name="Plan steps")).to_be_focused()
    page.keyboard.press("Tab")
    start = page.locator('.plan-graph-node[data-step-id="10"]')
    expect(start).to_be_focused()
    page.keyboard.press("Enter")
    selected = page.evaluate("window.selected")
    assert selected == [SHIP["steps"][0]]
    expect(start).to_have_attribute("aria-pressed", "true")

    failed = page.get_by_role(
        "button", name="Book carrier, Callout, State: Fatally Failed", exact=False
    )
    failed.focus()
    page.keyboard.press(" ")
    assert [s["id"] for s in page.evaluate("window.selected")] == [10, 18]
    expect(start).to_have_attribute("aria-pressed", "false")
    expect(failed).to_have_attribute("aria-pressed", "true")

    page.locator('.plan-graph-node[data-step-id="31"]').click()
    assert [s["key"] for s in page.evaluate("window.selected")] == ["start", "carrier", "done"]


def test_the_graph_follows_the_dark_theme(page: Page) -> None:
    colours = {}
    for theme in ("light", "dark"):
        open_graph(page, SMALL, theme)
        colours[theme] = page.evaluate(
            """() => {
                const node = document.querySelector('.plan-graph-node[data-step-id="10"]');
                return [getComputedStyle(node.querySelector('.plan-graph-box')).fill,
                        getComputedStyle(node.querySelector('.plan-graph-name')).fill,
                        getComputedStyle(node.querySelector('.plan-graph-state rect')).fill];
            }"""
        )
    assert colours["light"] == ["rgb(255, 255, 255)", "rgb(28, 36, 48)", "rgb(227, 244, 232)"]
    assert colours["dark"] == ["rgb(29, 33, 40)", "rgb(230, 233, 238)", "rgb(23, 59, 37)"]


def test_on_a_390_px_screen_the_graph_scrolls_in_its_box_and_never_the_page(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    open_graph(page, forty())
    sizes = page.evaluate(
        """() => {
            const box = document.querySelector('.plan-graph-scroll');
            return {page: document.documentElement.scrollWidth,
                    box: box.getBoundingClientRect().right,
                    inner: box.scrollWidth, visible: box.clientWidth};
        }"""
    )
    assert sizes["page"] == 390
    assert sizes["box"] <= 390
    assert sizes["inner"] > sizes["visible"]
    # Focusing a step far to the right scrolls the box, not the page.
    page.locator('.plan-graph-node[data-step-id="139"]').focus()
    assert page.evaluate("window.scrollX") == 0
    assert page.evaluate("document.querySelector('.plan-graph-scroll').scrollLeft") > 0


def test_data_without_plans_says_so_instead_of_failing(page: Page) -> None:
    open_graph(page, {"plans": []})
    expect(page.locator("#graph")).to_have_text("This order has no fulfilment plan yet.")
    page.evaluate("PlanGraph.render(document.getElementById('graph'), {error: 'x'})")
    expect(page.locator("#graph")).to_have_text(
        "The plan could not be drawn: the data has no list of plans."
    )
    assert page.evaluate("PlanGraph.filter(document.getElementById('graph'), {manual: true})") == []


def test_the_bundle_holds_the_pinned_dagre_and_names_its_licences(page: Page) -> None:
    assert BUNDLE.read_text(encoding="utf-8").startswith(
        "/* PlanGraph: the fulfilment plan's step graph (dagre), built from frontend/"
        " by frontend/build.sh. Third-party licences: plan-graph.LICENSES.txt */"
    )
    licences = (BUNDLE.parent / "plan-graph.LICENSES.txt").read_text(encoding="utf-8")
    dagre = json.loads((ROOT / "frontend" / "package.json").read_text(encoding="utf-8"))[
        "dependencies"
    ]["@dagrejs/dagre"]
    assert f"@dagrejs/dagre {dagre} (MIT)" in licences
    assert "@dagrejs/graphlib" in licences
    open_graph(page, SMALL)
    assert page.evaluate("PlanGraph.version") == dagre


def test_drawing_again_keeps_the_filters_and_the_selection_and_draws_a_repeated_edge_once(
    page: Page,
) -> None:
    open_graph(page, SMALL)
    page.evaluate("PlanGraph.filter(document.getElementById('graph'), {pending: true})")
    page.locator('.plan-graph-node[data-step-id="18"]').click()
    # The page polls the plan: step 14 has started, and the cross-plan edge is now
    # listed by both plans.
    later = json.loads(json.dumps(SMALL))
    later["plans"][0]["steps"][4]["state"] = "InProgress"
    later["plans"][0]["edges"].append(edge(17, 30, "CROSS_PLAN"))
    page.evaluate(
        "data => PlanGraph.render(document.getElementById('graph'), data, {})",
        later,
    )
    expect(page.locator(".plan-graph-node[data-dimmed=false]")).to_have_count(4)
    expect(page.locator(".plan-graph-status")).to_have_text("Showing 4 of 12 steps: pending.")
    expect(page.get_by_role("checkbox", name="Pending")).to_be_checked()
    expect(page.locator('.plan-graph-node[aria-pressed="true"]')).to_have_attribute(
        "data-step-id", "18"
    )
    expect(page.locator('.plan-graph-edge[data-from="17"][data-to="30"]')).to_have_count(1)
    # Drawing again does not select anew: onSelect saw the click only.
    assert [s["id"] for s in page.evaluate("window.selected")] == [18]
