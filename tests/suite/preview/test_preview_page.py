"""The preview page, server side: the same inputs and refusals as the API, rendered.

Browser behaviour (the OU picker, the editor's "Preview this draft") is in
``tests/browser/test_preview_ui.py``.
"""

import re
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from orchestration.engine.scenario import load_scenario_text
from orchestration.models import Order, OrderLineStatus, OrganizationUnit, Sheet
from orchestration.services.orchestration import order_orchestrate
from orchestration.services.orchestration_requests import order_orchestration_request
from tests.conftest import divides_by_zero_at, table_rows
from tests.sources import OWN_SCENARIOS

pytestmark = pytest.mark.django_db

SUNDAY = {"order": "DEMO-1001", "at": "2026-11-22T10:00", "time_zone": "Europe/Amsterdam"}
MONDAY = {**SUNDAY, "at": "2026-11-23T10:00"}


@pytest.fixture
def demo(db: Any) -> None:
    call_command("demo", stdout=StringIO())


@pytest.fixture
def designer(demo: None) -> User:
    """The demo's designer (a member of "Fulfillment designers")."""
    return User.objects.get(username="designer")


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def winners(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-action="(\w+)" data-supplier="([^"]*)"', html)


def test_the_winner_changes_between_sunday_and_monday(demo: None, designer: User) -> None:
    client = login(designer)
    sunday = client.get("/preview/", SUNDAY)
    assert sunday.status_code == 200
    html = sunday.content.decode()
    assert winners(html) == [("EXPORT_ORDER", "lelystad_warehouse")]
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    panel = re.search(
        rf'<section class="card reasons" id="reasons-{amsterdam.pk}".*?</section>', html, re.S
    )
    assert panel is not None
    assert '<code class="reason">ShopNotOpenOnDay</code>' in panel[0]
    assert "Shop not open on Sunday" in panel[0]
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    assert re.search(rf'href="/sheets/{sheet.pk}/\?line=\d+"', panel[0])  # opens the sheet there

    monday = client.post("/preview/", {**MONDAY, "respect_current_fulfillments": "1", "run": "1"})
    assert winners(monday.content.decode()) == [("SHIP_FROM_STORE", "1187")]


def test_a_stock_change_and_a_draft_on_the_page(demo: None, designer: User) -> None:
    client = login(designer)
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    from orchestration.models import Order

    order = Order.objects.get(backend_id="DEMO-1001")
    form = {**MONDAY, "respect_current_fulfillments": "1", "run": "1"}
    for index, line in enumerate(order.lines.all()):
        form[f"stock-{index}-organization_unit"] = str(amsterdam.pk)
        form[f"stock-{index}-product"] = str(line.product_id)
        form[f"stock-{index}-quantity"] = "0"
        form[f"stock-{index}-mode"] = "absolute"
    before = table_rows()
    no_stock = client.post("/preview/", form)
    assert "1187" not in {supplier for _action, supplier in winners(no_stock.content.decode())}

    sheet = Sheet.objects.get(fulfillment="WarehouseFulfillment")
    drafted = client.post(
        "/preview/",
        {
            **MONDAY,
            "run": "1",
            "respect_current_fulfillments": "1",
            "draft-0-sheet": str(Sheet.objects.get(fulfillment="ShipFromStore").pk),
            "draft-0-source": "fulfillment ShipFromStore\naction CANCEL\n",
        },
    )
    assert winners(drafted.content.decode())[0][0] == "EXPORT_ORDER"
    assert sheet.revision == Sheet.objects.get(pk=sheet.pk).revision
    assert table_rows() == before


def test_the_editor_prefills_a_draft_without_running(demo: None, designer: User) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    response = login(designer).post(
        "/preview/",
        {
            "prefill": "1",
            "draft-0-sheet": str(sheet.pk),
            "draft-0-source": "fulfillment X\n# unsaved\n",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="preview-result"' not in html
    assert "# unsaved" in html
    assert f'<option value="{sheet.pk}" selected>' in html


def test_the_overview_preview_icon_loads_the_sheet_as_a_draft(demo: None, designer: User) -> None:
    sheet = Sheet.objects.get(fulfillment="IBE")  # inactive in the demo
    html = login(designer).get(f"/preview/?sheet={sheet.pk}").content.decode()
    assert 'id="preview-result"' not in html
    assert "fulfillment IBE" in html
    overview = login(designer).get("/sheets/?inactive=1").content.decode()
    assert f'href="/preview/?sheet={sheet.pk}"' in overview


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"order": "NOPE"}, "order", "There is no order &#x27;NOPE&#x27;."),
        ({"order": "DEMO-1001", "at": "soon"}, "at", "&#x27;soon&#x27; is not a date and time"),
        (
            {
                "order": "DEMO-1001",
                "stock-0-organization_unit": "987654321",
                "stock-0-product": "1",
                "stock-0-quantity": "1",
            },
            "stock[0].organization_unit",
            "There is no organization unit 987654321.",
        ),
        ({"scenario": "{not json"}, "scenario", "line 1, column 2: not valid JSON"),
        ({"order": "", "scenario": ""}, "order", "Give either an order number or a scenario"),
        (
            {"order": "DEMO-1001", "draft-0-name": "n" * 201, "draft-0-source": "x"},
            "drafts[0].name",
            "Ensure this value has at most 200 characters (it has 201).",
        ),
        (
            {"order": "DEMO-1001", "requested_fulfillment_option": "Sameday"},
            "requested_fulfillment_option",
            "Unknown delivery option &quot;Sameday&quot;; expected one of NormalDelivery,",
        ),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    demo: None, designer: User, form: dict[str, str], field: str, message: str
) -> None:
    client = login(designer)
    before = table_rows()
    response = client.post("/preview/", {**form, "run": "1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"<code>{field}</code>: " in html
    assert message in html
    assert table_rows() == before


def test_order_numbers_autocomplete(demo: None, designer: User) -> None:
    found = login(designer).get("/preview/orders/?q=DEMO-100").json()["results"]
    assert {item["number"] for item in found} == {f"DEMO-100{n}" for n in range(1, 7)}


def test_who_could_not_covers_an_ou_dropped_without_a_reason_with_the_values_it_read(
    demo: None, designer: User
) -> None:
    """The distance requirement of the demo's ship-from-store sheet has no reason: a shop
    it drops is still listed, with the statement, a link to its line and the distance."""
    html = login(designer).get("/preview/", MONDAY).content.decode()
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    line = 1 + sheet.source.splitlines().index(
        "require [Supplier.DistanceToShippingAddressInKm] < [radiusLimit]"
    )
    rows = re.findall(r'<tr class="dropped">(.*?)</tr>', html, re.S)
    by_distance = [row for row in rows if f"/sheets/{sheet.pk}/?line={line}" in row]
    assert by_distance, "no OU dropped by the distance requirement is listed"
    assert all(
        "<code>Supplier.DistanceToShippingAddressInKm</code> = " in row for row in by_distance
    )
    assert all("<code>radiusLimit</code> = " in row for row in by_distance)
    # Every OU that is in no winning shipment and valid under no sheet has its panel.
    panels = set(re.findall(r'<section class="card reasons" id="reasons-(\d+)"', html))
    assert {str(pk) for pk in OrganizationUnit.objects.values_list("pk", flat=True)} - panels <= {
        supplier for _a, supplier in winners(html)
    } | set(re.findall(r"\(ID (\d+)\)</span></td><td>", html))


def test_an_error_for_one_ou_is_shown_beside_that_ou_and_the_sheet_runs_on(
    demo: None, designer: User
) -> None:
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    source, _statement = divides_by_zero_at(sheet.source, amsterdam.pk)
    client = login(designer)
    before = table_rows()
    response = client.post(
        "/preview/",
        {
            **MONDAY,
            "run": "1",
            "respect_current_fulfillments": "1",
            "draft-0-sheet": str(sheet.pk),
            "draft-0-source": source,
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    panel = re.search(
        rf'<section class="card reasons" id="reasons-{amsterdam.pk}".*?</section>', html, re.S
    )
    assert panel is not None
    assert '<tr class="error" data-error="DivisionByZero">' in panel[0]
    assert "division by zero: the right side of &#x27;/&#x27; is 0" in panel[0]
    assert f"<code>Supplier.ID</code> = {amsterdam.pk}" in panel[0]
    assert 'id="supplier-errors"' in html
    assert 'id="sheet-errors"' not in html  # the sheet was not left out
    assert ("SHIP_FROM_STORE", "1187") not in winners(html)
    # The sheet ran on for the other OUs: its distance requirement still dropped shops.
    line = 1 + source.splitlines().index(
        "require [Supplier.DistanceToShippingAddressInKm] < [radiusLimit]"
    )
    assert re.search(
        rf'<tr class="dropped">[^<]*<td><a href="/sheets/{sheet.pk}/\?line={line}"', html
    )
    assert table_rows() == before


def test_summarised_drops_still_give_each_ou_its_statement(
    demo: None, designer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``DROPPED_LISTED`` the blob keeps counts and OU IDs per statement: each OU is
    still listed with the statement that dropped it, its values said not to be kept."""
    from orchestration.engine import blob as blobs

    listed = login(designer).get("/preview/", MONDAY).content.decode()
    monkeypatch.setattr(blobs, "DROPPED_LISTED", 1)
    summarised = login(designer).get("/preview/", MONDAY).content.decode()

    def panels(html: str) -> set[str]:
        return set(re.findall(r'<section class="card reasons" id="reasons-(\d+)"', html))

    assert panels(summarised) == panels(listed)
    assert len(re.findall(r'<tr class="dropped">', summarised)) == len(
        re.findall(r'<tr class="dropped">', listed)
    )
    assert "not kept (too many OUs)" in summarised
    assert "not kept (too many OUs)" not in listed


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("Europe/Amsterdam", "Monday 23 Nov 2026, 10:00 Europe/Amsterdam"),
        ("Europe/London", "Monday 23 Nov 2026, 10:00 Europe/London"),
    ],
)
def test_the_decision_time_reads_in_the_zone_the_preview_was_asked_in(
    designer: User, zone: str, shown: str
) -> None:
    page = login(designer).get("/preview/", {**MONDAY, "time_zone": zone}).content.decode()
    assert re.search(rf'Decision at <time datetime="[^"]+" title="[^"]+">{shown}</time>', page)


def test_an_order_whose_lines_are_all_being_fulfilled_says_so_instead_of_score_0(
    designer: User,
) -> None:
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    order = Order.objects.get(backend_id="DEMO-1002")
    order_orchestration_request(order_id=order.pk, trigger="test", now=monday)
    order_orchestrate(order_id=order.pk, now=monday)
    assert set(order.lines.values_list("status", flat=True)) == {OrderLineStatus.IN_FULFILLMENT}
    client = login(designer)
    form = {**MONDAY, "order": "DEMO-1002", "run": "1"}

    respecting = client.post("/preview/", {**form, "respect_current_fulfillments": "1"})
    page = respecting.content.decode()
    assert "All lines are already being fulfilled: nothing is left to decide." in page
    assert 'id="winner"' not in page and "Score 0." not in page

    fresh = client.post("/preview/", form).content.decode()
    assert "All lines are already being fulfilled" not in fresh
    assert winners(fresh)  # a clean slate decides again


def cells(html: str, table_id: str) -> list[list[str]]:
    """The text of each cell of each body row of the table ``table_id``."""
    table = re.search(rf'<table class="data" id="{table_id}">.*?</table>', html, re.S)
    assert table is not None, f"no table {table_id}"
    body = table[0].split("<tbody>", 1)[1]
    return [
        [
            " ".join(re.sub(r"<[^>]+>", " ", cell).split())
            for cell in re.findall(r"<td>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def test_who_else_could_fulfil_puts_the_winner_first_and_says_why_each_other_lost(
    designer: User,
) -> None:
    """Lelystad's supplier and line score (20) is above the winner's (0): the table
    still lists the winner first, and shows what each would give alone, its score in
    parts, and why it lost (the winner's shipment score)."""
    html = login(designer).post("/preview/", {**MONDAY, "run": "1"}).content.decode()
    assert winners(html) == [("SHIP_FROM_STORE", "1187")]
    ids = {
        backend_id: OrganizationUnit.objects.get(backend_id=backend_id).pk
        for backend_id in ("1187", "lelystad_warehouse", "venlo_warehouse")
    }
    lines = ", ".join(
        str(pk)
        for pk in Order.objects.get(backend_id="DEMO-1001")
        .lines.order_by("pk")
        .values_list("pk", flat=True)
    )
    assert cells(html, "valid-suppliers") == [
        [
            f"Amsterdam Kalverstraat (ID {ids['1187']})",
            "Ship from store",
            "0",
            lines,
            "2 of 2 units",
            "100.54 = 0 supplier + 0 line + 100.54 shipment",
            "In the winning proposition",
        ],
        [
            f"Lelystad warehouse (ID {ids['lelystad_warehouse']})",
            "Warehouse fulfillment",
            "20",
            lines,
            "2 of 2 units",
            "20 = 20 supplier + 0 line + 0 shipment",
            "Scores 20 alone; the winner scores 100.54.",
        ],
        [
            f"Venlo warehouse (ID {ids['venlo_warehouse']})",
            "Warehouse fulfillment",
            "0",
            lines,
            "2 of 2 units",
            "0 = 0 supplier + 0 line + 0 shipment",
            "Scores 0 alone; the winner scores 100.54.",
        ],
    ]
    assert (
        '<p id="winner-parts">Ships 2 units in 1 shipment; score 100.54 = 0 supplier + 0 line '
        "+ 100.54 shipment.</p>"
    ) in html
    assert "Ships 0 of 2 units; the winner ships 2: most units win before score." in html


def test_an_ou_valid_under_one_sheet_shows_why_the_other_sheet_rejected_it(
    designer: User,
) -> None:
    html = login(designer).get("/preview/", MONDAY).content.decode()
    lelystad = OrganizationUnit.objects.get(backend_id="lelystad_warehouse")
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    line = 1 + sheet.source.splitlines().index("require [Supplier.Type] = 'Shop'")
    assert (
        f'<option value="{lelystad.pk}">Lelystad warehouse (valid under Warehouse fulfillment; '
        "rejected by Ship from store)</option>"
    ) in html
    panel = re.search(
        rf'<section class="card reasons" id="reasons-{lelystad.pk}".*?</section>', html, re.S
    )
    assert panel is not None
    assert (
        '<p class="valid-under">Valid under Warehouse fulfillment (see "Who else could '
        'fulfil"); rejected by Ship from store, as follows.</p>'
    ) in panel[0]
    assert (
        f'<a href="/sheets/{sheet.pk}/?line={line}" title="Open the sheet at line {line}">'
        f"Ship from store, line {line}</a>" in panel[0]
    )
    assert "<code>require [Supplier.Type] = &#x27;Shop&#x27;\n</code>" in panel[0]
    assert "<code>Supplier.Type</code> = Warehouse" in panel[0]


def test_every_ou_is_explained_also_those_the_what_if_left_out(designer: User) -> None:
    """With only Kalverstraat allowed, every other OU is still listed, saying why."""
    amsterdam = OrganizationUnit.objects.get(backend_id="1187")
    html = (
        login(designer)
        .post("/preview/", {**MONDAY, "run": "1", "organization_units": [str(amsterdam.pk)]})
        .content.decode()
    )
    assert winners(html) == [("SHIP_FROM_STORE", "1187")]
    panels = set(map(int, re.findall(r'<section class="card reasons" id="reasons-(\d+)"', html)))
    others = set(OrganizationUnit.objects.exclude(pk=amsterdam.pk).values_list("pk", flat=True))
    assert others <= panels
    assert len(re.findall(r'<tr class="not-weighed">', html)) == len(others)
    assert "Not among the organization units the what-if lets fulfil." in html


def test_a_draft_is_marked_in_the_result_and_where_it_rejected(designer: User) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    html = (
        login(designer)
        .post(
            "/preview/",
            {**MONDAY, "run": "1", "draft-0-sheet": str(sheet.pk), "draft-0-source": sheet.source},
        )
        .content.decode()
    )
    assert winners(html) == [("SHIP_FROM_STORE", "1187")]
    assert '<span class="draft-mark">by draft of Ship from store</span>' in html
    assert (
        '<p class="notice" id="drafts-used">Previewed with unsaved text: draft of Ship from '
        "store. Nothing was saved.</p>"
    ) in html
    line = 1 + sheet.source.splitlines().index("require [Supplier.Type] = 'Shop'")
    assert (
        f'title="Open the sheet at line {line}">Ship from store, line {line}</a> '
        '<span class="draft-mark">(draft of Ship from store)</span>'
    ) in html


def test_preview_this_draft_keeps_the_order_and_moment_previewed_before(designer: User) -> None:
    client = login(designer)
    client.get("/preview/", MONDAY)
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    draft = sheet.source + "\nscope Supplier\n\nrequire [Supplier.Type] = 'Nothing'\n"
    before = table_rows()
    response = client.post(
        "/preview/",
        {"prefill": "1", "draft-0-sheet": str(sheet.pk), "draft-0-source": draft},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="DEMO-1001"' in html and 'value="2026-11-23T10:00"' in html
    assert re.search(r"Decision at <time [^>]+>Monday 23 Nov 2026, 10:00 Europe/Amsterdam<", html)
    assert winners(html) == [("EXPORT_ORDER", "lelystad_warehouse")]
    assert "Previewed with unsaved text: draft of Ship from store." in html
    assert table_rows() == before


TYPED = {
    **{k: v for k, v in MONDAY.items() if k != "order"},
    "shipping_street": "Herengracht 182",
    "shipping_city": "Amsterdam",
    "shipping_country_id": "NL",
    "shipping_latitude": "52.3752",
    "shipping_longitude": "4.8872",
    "line-0-product": "SNK-CANVAS-WHT",
    "line-0-quantity": "1",
    "line-1-product": "Wool scarf, red",  # by name
    "line-1-quantity": "1",
    "run": "1",
}


def test_a_typed_order_is_routed_like_the_stored_order_it_copies(designer: User) -> None:
    """DEMO-1001 typed in (its address and products) gets DEMO-1001's winner, through a
    scenario the page shows."""
    client = login(designer)
    before = table_rows()
    response = client.post("/preview/", TYPED)
    assert response.status_code == 200
    html = response.content.decode()
    assert winners(html) == [("SHIP_FROM_STORE", "1187")]
    assert 'id="typed-scenario"' in html and "&quot;organization_units&quot;" in html
    assert 'value="Wool scarf, red"' in html  # the form keeps what was typed
    assert table_rows() == before


def test_a_typed_order_with_a_draft_is_previewed_with_it(designer: User) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    html = (
        login(designer)
        .post(
            "/preview/",
            {
                **TYPED,
                "draft-0-sheet": str(sheet.pk),
                "draft-0-source": "fulfillment X\naction CANCEL\n",
            },
        )
        .content.decode()
    )
    assert winners(html)[0][0] == "EXPORT_ORDER"
    assert "Previewed with unsaved text: draft of Ship from store." in html


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"line-1-quantity": "0"},
            "lines[1].quantity",
            "Line 2, quantity: Order 1 to 1,000,000 units.",
        ),
        (
            {"line-1-quantity": ""},
            "lines[1].quantity",
            "Line 2, quantity: How many units? 1 or more.",
        ),
        (
            {"line-0-quantity": "x"},
            "lines[0].quantity",
            "Line 1, quantity: Type a whole number of units.",
        ),
        (
            {"line-0-product": ""},
            "lines[0].product",
            "Line 1, product: Name a product: its backend ID or its name.",
        ),
        (
            {"line-0-product": "NOPE"},
            "lines[0].product",
            "Line 1, product: &#x27;NOPE&#x27; names no one product (no product has it); type "
            "its backend ID or pick it from the list.",
        ),
        (
            {"shipping_latitude": "91"},
            "shipping_latitude",
            "Shipping latitude: Ensure this value is less than or equal to 90.0.",
        ),
        # The typed order's choices named by their labels on the page, with what they take
        # (was "Typed_intent: Select a valid choice. Return is not one of the ...").
        (
            {"typed_intent": "Return"},
            "typed_intent",
            "Order type: Unknown order type &quot;Return&quot;; expected one of Sales, "
            "Returns, Purchase.",
        ),
        (
            {"typed_option": "TELEPORT"},
            "typed_option",
            "Requested delivery option: Unknown delivery option &quot;TELEPORT&quot;; expected "
            "one of NormalDelivery, SameDayDelivery, PickupDelivery, or none.",
        ),
        (
            {"typed_partial": "maybe"},
            "typed_partial",
            "Allow partial fulfilment: Unknown answer &quot;maybe&quot;; expected yes, no, or "
            "none (as the setting says).",
        ),
        # The form's own fields refused beside a typed order (each was a KeyError, a 500).
        (
            {"requested_fulfillment_option": "TELEPORT"},
            "requested_fulfillment_option",
            "Unknown delivery option &quot;TELEPORT&quot;; expected one of NormalDelivery, "
            "SameDayDelivery, PickupDelivery.",
        ),
        (
            {"at": "x" * 100},
            "at",
            "Ensure this value has at most 64 characters (it has 100).",
        ),
        (
            {"order": "DEMO-1001"},
            "order",
            "Give an order number, a scenario or a typed order: one of them",
        ),
    ],
)
def test_a_typed_order_refused_names_the_line_row_and_field(
    designer: User, change: dict[str, str], field: str, message: str
) -> None:
    client = login(designer)
    before = table_rows()
    response = client.post("/preview/", {**TYPED, **change})
    assert response.status_code == 400
    html = response.content.decode()
    assert f"<code>{field}</code>: {message}" in html
    assert 'id="preview-result"' not in html
    if field.startswith("lines["):  # also beside the field, in its row
        match = re.fullmatch(r"lines\[(\d)\]\.(\w+)", field)
        assert match is not None
        index, name = match.groups()
        assert (
            f'aria-invalid="true" aria-describedby="line-{index}-{name}-error">'
            f'<p class="error" id="line-{index}-{name}-error">{message}</p>'
        ) in html
    assert table_rows() == before


def test_products_autocomplete_by_backend_id_or_name(designer: User) -> None:
    client = login(designer)
    by_id = client.get("/preview/products/?q=SNK-CANVAS").json()["results"]
    assert {"backend_id": "SNK-CANVAS-WHT", "name": "Canvas sneaker, white"} in by_id
    by_name = client.get("/preview/products/?q=wool scarf").json()["results"]
    assert [p["backend_id"] for p in by_name][:1] == ["SCF-WOOL-RED"] or "SCF-WOOL-RED" in [
        p["backend_id"] for p in by_name
    ]
    assert client.get("/preview/products/", {"q": "x" * 1000}).json() == {"results": []}


SCENARIO_FILES = sorted(OWN_SCENARIOS.glob("*.json"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_every_ou_of_a_scenario_is_a_winner_a_valid_supplier_or_explained(
    designer: User, path: Path
) -> None:
    """Each scenario file pasted into the page: no OU is left without its place."""
    text = path.read_text()
    response = login(designer).post("/preview/", {"scenario": text, "run": "1"})
    assert response.status_code == 200
    html = response.content.decode()
    scenario = load_scenario_text(text)
    shown = set(re.findall(r'<section class="card reasons" id="reasons-(\d+)"', html))
    shown |= set(re.findall(r'<tr class="in-winner" data-ou="(\d+)">', html))
    shown |= set(re.findall(r'<tr data-ou="(\d+)">', html))
    if 'id="nothing-open"' in html:
        return  # nothing left to decide: no OU is weighed
    ids = {str(ou.id) for ou in scenario.organization_units}
    by_backend = {ou.backend_id: str(ou.id) for ou in scenario.organization_units}
    shown |= {by_backend.get(backend, "") for _action, backend in winners(html)}
    assert ids <= shown, f"not explained: {sorted(ids - shown)}"


def test_a_return_order_not_orchestrated_says_why_no_sheet_weighed_any_ou(
    designer: User,
) -> None:
    text = (OWN_SCENARIOS / "returns-not-orchestrated-go-to-default-ou.json").read_text()
    html = login(designer).post("/preview/", {"scenario": text, "run": "1"}).content.decode()
    message = (
        "Return orders are not orchestrated (UseOrderOrchestrationForReturnOrders is off): no "
        "sheet weighs any organization unit; the order goes to the default returns "
        "organization unit."
    )
    rows = re.findall(r'<tr class="not-weighed">(.*?)</tr>', html, re.S)
    returns_ous = len(load_scenario_text(text).organization_units) - len(winners(html))
    assert len(rows) == returns_ous and all(message in row for row in rows)


def test_past_the_limit_valid_suppliers_are_listed_and_said_not_weighed_alone(
    designer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.selectors import previews

    monkeypatch.setattr(previews, "ALTERNATIVES", 1)
    html = login(designer).post("/preview/", {**MONDAY, "run": "1"}).content.decode()
    rows = cells(html, "valid-suppliers")
    assert [row[0].split(" (")[0] for row in rows] == [
        "Amsterdam Kalverstraat",  # the winner's, first
        "Lelystad warehouse",  # weighed alone: the best supplier and line score
        "Venlo warehouse",
    ]
    assert [row[4:] for row in rows] == [
        ["not weighed", "", "In the winning proposition"],
        [
            "2 of 2 units",
            "20 = 20 supplier + 0 line + 0 shipment",
            "Scores 20 alone; the winner scores 100.54.",
        ],
        ["not weighed", "", ""],
    ]
    assert "2 more valid suppliers (fewest lines, lowest scores) were not weighed alone." in html


def test_preview_this_draft_keeps_a_typed_order_previewed_before(designer: User) -> None:
    client = login(designer)
    assert winners(client.post("/preview/", TYPED).content.decode()) == [
        ("SHIP_FROM_STORE", "1187")
    ]
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    html = client.post(
        "/preview/",
        {
            "prefill": "1",
            "draft-0-sheet": str(sheet.pk),
            "draft-0-source": "fulfillment X\naction CANCEL\n",
        },
    ).content.decode()
    assert 'value="Wool scarf, red"' in html and 'value="Herengracht 182"' in html
    assert winners(html)[0][0] == "EXPORT_ORDER"
    assert "Previewed with unsaved text: draft of Ship from store." in html


def test_preview_this_draft_with_nothing_previewed_before_only_fills_the_form(
    designer: User,
) -> None:
    sheet = Sheet.objects.get(fulfillment="ShipFromStore")
    html = (
        login(designer)
        .post(
            "/preview/",
            {"prefill": "1", "draft-0-sheet": str(sheet.pk), "draft-0-source": "fulfillment X\n"},
        )
        .content.decode()
    )
    assert 'id="preview-result"' not in html and 'id="preview-errors"' not in html


def test_a_typed_order_of_more_lines_than_an_order_may_have_is_refused(
    designer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.engine.limits import Limit
    from preview import forms

    monkeypatch.setattr(forms, "ORDER_LINES", Limit(1, "lines per order", "a test"))
    response = login(designer).post("/preview/", TYPED)
    assert response.status_code == 400
    assert "<code>lines</code>: At most 1 lines per order." in response.content.decode()
