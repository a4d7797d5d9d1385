"""Bad input on the Suite's pages and in the admin: a clear 400 or the form's own error.

Each test here is a 500 that a hostile probe found (tests/test_hostile_queries.py
sweeps every page for more): NUL, which PostgreSQL cannot compare; "²", which passes
``str.isdigit()`` and fails ``int()``; more than 4,300 digits, which ``int()`` refuses;
a number past 64 bits, which SQLite cannot bind; an empty ``_to_field`` in the admin.
DEBUG is off and the client does not re-raise, as a user meets these pages.
"""

from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, RequestFactory

from orchestration.models import Backtest, OrganizationUnit, Product, Sheet
from orchestration.services.orders import order_create
from orchestration.services.sheets import sheet_create, sheet_update
from tests.conftest import sheet_text, table_rows

pytestmark = pytest.mark.django_db

FIVE_THOUSAND_DIGITS = "9" * 5000
TWENTY_DIGITS = "9" * 20


@pytest.fixture(autouse=True)
def _debug_off(settings: Any) -> None:
    settings.DEBUG = False


def client_for(user: User) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def superuser(db: Any) -> User:
    return User.objects.create_superuser("root", password="secret-pass-123")


@pytest.fixture
def sheet() -> Sheet:
    """A sheet with two revisions, to compare."""
    created = sheet_create(
        fulfillment="Fallback", name="Fallback", source=sheet_text("Fallback"), is_active=True
    )
    return sheet_update(sheet=created, source=sheet_text("Fallback") + "# two\n")


# --- NUL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/orders/?q=%00", "q"),
        ("/sheets/?q=a%00b", "q"),
        ("/preview/orders/?q=%00", "q"),
        ("/orders/stores/?page=1&q=%00", "q"),
        ("/admin/orchestration/order/?q=%00", "q"),
        ("/admin/orchestration/order/?status__exact=%00", "status__exact"),
        ("/admin/orchestration/order/1/change/?_changelist_filters=%00", "_changelist_filters"),
        ("/orders/?%00=1", "\\u0000"),
    ],
)
def test_nul_in_a_query_string_is_a_400_page_naming_the_parameter(
    superuser: User, url: str, parameter: str
) -> None:
    response = client_for(superuser).get(url)

    assert response.status_code == 400
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert (
        f"The query string parameter “{parameter}” contains the NUL character (\\u0000), "
        "which no page accepts: remove it and try again."
    ) in response.content.decode()


def test_nul_in_a_query_string_is_refused_before_the_sign_in_redirect() -> None:
    response = Client(raise_request_exception=False).get("/orders/?q=%00")

    assert response.status_code == 400
    assert "The query string parameter “q” contains the NUL character" in response.content.decode()


def test_nul_in_a_suite_form_is_a_400_naming_the_field_and_nothing_is_written(
    designer: User,
) -> None:
    client = client_for(designer)
    before = table_rows()

    response = client.post(
        "/sheets/new/", {"name": "Ship\x00", "fulfillment": "Ship", "template": "cancel-fallback"}
    )

    assert response.status_code == 400
    assert (
        "The form parameter “name” contains the NUL character (\\u0000)"
        in response.content.decode()
    )
    assert table_rows() == before


def test_nul_in_an_admin_form_is_a_400_and_nothing_is_written(superuser: User) -> None:
    unit = OrganizationUnit.objects.create(name="Urk", backend_id="urk", type="Shop")
    client = client_for(superuser)
    before = table_rows()

    response = client.post(
        f"/admin/orchestration/organizationunit/{unit.pk}/change/",
        {"name": "Urk\x00", "backend_id": "urk", "type": "Shop"},
    )

    assert response.status_code == 400
    assert "The form parameter “name” contains the NUL character" in response.content.decode()
    assert table_rows() == before


def test_invalid_utf8_in_a_query_string_is_read_as_a_replacement_character(
    superuser: User,
) -> None:
    """A lone surrogate cannot reach a view: Django decodes %ED%A0%80 to U+FFFD."""
    response = client_for(superuser).get("/preview/orders/?q=%ED%A0%80")

    assert response.status_code == 200
    assert response.json() == {"results": []}
    assert response.wsgi_request.GET["q"] == "\ufffd\ufffd\ufffd"


# --- The 400 page ---------------------------------------------------------------------------


def test_a_request_for_another_host_gets_the_suites_400_page() -> None:
    """Django answers a host it does not serve with 400 before anyone is signed in: the
    page renders without a user."""
    response = Client(raise_request_exception=False).get("/sheets/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert "This request cannot be answered" in response.content.decode()
    assert "Part of the request (its address, a parameter or a form field) is malformed." in (
        response.content.decode()
    )


def test_an_api_request_for_another_host_gets_a_400_in_the_api_error_shape() -> None:
    response = Client(raise_request_exception=False).get("/api/sheets/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_request",
        "message": "The request is malformed.",
        "errors": [],
    }


def test_a_typed_order_of_more_fields_than_a_form_may_send_names_the_limit(
    superuser: User,
) -> None:
    """Line rows past Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (the settings' 6,000): the
    page says so instead of "malformed"."""
    limit = django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    rows = {
        f"line-{n}-{name}": "1" for n in range(limit // 2 + 100) for name in ("product", "quantity")
    }
    client = client_for(superuser)
    before = table_rows()
    response = client.post("/preview/", rows)

    assert response.status_code == 400
    assert (
        f"The request has more than {limit:,} parameters or form fields, more than this "
        "install takes at once (DATA_UPLOAD_MAX_NUMBER_FIELDS)."
    ) in response.content.decode()
    assert table_rows() == before


def test_a_form_body_over_the_upload_limit_names_the_limit(superuser: User) -> None:
    """A text pasted into the editor and sent to Compare, over 5 MiB: named, not "malformed"."""
    sheet = sheet_create(fulfillment="Big", name="Big", source=sheet_text("Big"))
    client = client_for(superuser)
    before = table_rows()
    response = client.post(
        f"/sheets/{sheet.pk}/compare/",
        urlencode({"source": "#" * (6 * 1024 * 1024)}),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert (
        "The request body is larger than 5,242,880 bytes, more than this install takes at "
        "once (DATA_UPLOAD_MAX_MEMORY_SIZE)."
    ) in response.content.decode()
    assert table_rows() == before


def test_an_api_request_of_too_many_parameters_names_the_limit(superuser: User) -> None:
    limit = django_settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    query = "&".join(f"identifier=S{n}" for n in range(limit + 200))
    response = client_for(superuser).get(f"/api/sheets/export/?{query}")

    assert response.status_code == 400
    assert response.json() == {
        "code": "bad_request",
        "message": f"The request has more than {limit:,} parameters or form fields, more "
        "than this install takes at once (DATA_UPLOAD_MAX_NUMBER_FIELDS).",
        "errors": [],
    }


# --- Numbers past 64 bits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        f"organization_unit={TWENTY_DIGITS}",
        f"id__in=1,{TWENTY_DIGITS}",
        f"product=-{TWENTY_DIGITS}",
    ],
)
def test_a_number_past_64_bits_in_an_admin_filter_is_no_server_error(
    superuser: User, query: str
) -> None:
    response = client_for(superuser).get(f"/admin/orchestration/stock/?{query}")

    if connection.vendor == "sqlite":  # it cannot bind the number: refused
        assert response.status_code == 400
        assert (
            "A number in the request is larger than any stored number (at most 2^63-1)."
            in response.content.decode()
        )
    else:  # PostgreSQL compares it as a numeric: no stock has such an ID
        assert response.status_code == 200
        assert response.context_data["cl"].result_count == 0


def test_an_api_request_whose_number_the_database_cannot_bind_gets_the_api_error_shape() -> None:
    from orchestration.middleware import RefuseIntegerOverflowMiddleware

    middleware = RefuseIntegerOverflowMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
    request = RequestFactory().get("/api/stock/")

    response = middleware.process_exception(
        request, OverflowError("Python int too large to convert to SQLite INTEGER")
    )

    assert response is not None
    assert response.status_code == 400
    assert response.content.decode() == (
        '{"code": "invalid", "message": "A number in the request is larger than any stored '
        'number (at most 2^63-1).", "errors": [{"code": "max_value", "message": "A number '
        'in the request is larger than any stored number (at most 2^63-1).", "field": null}]}'
    )
    assert middleware.process_exception(request, OverflowError("math range error")) is None


# --- The admin's _to_field ------------------------------------------------------------------


@pytest.mark.parametrize("view", ["change", "delete"])
def test_an_empty_to_field_in_the_admin_means_the_primary_key(superuser: User, view: str) -> None:
    unit = OrganizationUnit.objects.create(name="Urk", backend_id="urk", type="Shop")

    response = client_for(superuser).get(
        f"/admin/orchestration/organizationunit/{unit.pk}/{view}/?_to_field="
    )

    assert response.status_code == 200
    assert "Urk" in response.content.decode()


@pytest.mark.parametrize(
    "selected", ["%C2%B2", FIVE_THOUSAND_DIGITS, "abc"], ids=["superscript", "5000 digits", "text"]
)
def test_an_admin_action_on_a_malformed_id_is_a_400_and_nothing_is_deleted(
    superuser: User, selected: str
) -> None:
    OrganizationUnit.objects.create(name="Urk", backend_id="urk", type="Shop")
    client = client_for(superuser)
    before = table_rows()

    response = client.post(
        "/admin/orchestration/organizationunit/",
        f"action=delete_selected&index=0&post=yes&_selected_action={selected}",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert "This request cannot be answered" in response.content.decode()
    assert table_rows() == before


def test_an_api_order_line_of_5000_digits_is_not_found(integrator: User, shoe: Product) -> None:
    order = order_create(lines=[{"product": shoe, "quantity": 1}], backend_id="WEB-1")
    client = Client(raise_request_exception=False)
    client.force_login(integrator)

    response = client.post(
        f"/api/orders/{order.pk}/lines/{FIVE_THOUSAND_DIGITS}/cancel/",
        {"quantity": 1},
        content_type="application/json",
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# --- Sheets: ?id= and ?a=&b= ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("%C2%B2", "An ID is a whole number; &#x27;²&#x27; is not."),
        (FIVE_THOUSAND_DIGITS, f"An ID is a whole number; &#x27;{FIVE_THOUSAND_DIGITS}&#x27;"),
        (TWENTY_DIGITS, f"An ID is a whole number from 1 to 2^63-1; &#x27;{TWENTY_DIGITS}&#x27;"),
        ("0", "An ID is a whole number from 1 to 2^63-1; &#x27;0&#x27; is not."),
    ],
    ids=["superscript", "5000 digits", "20 digits", "zero"],
)
def test_a_malformed_sheet_id_filter_is_the_filters_own_error(
    designer: User, sheet: Sheet, raw: str, message: str
) -> None:
    response = client_for(designer).get(f"/sheets/?id={raw}")

    assert response.status_code == 200
    assert message in response.content.decode()
    assert f'data-sheet-id="{sheet.pk}"' in response.content.decode()  # nothing filtered


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("a=%C2%B2&b=1", "Revision A is a whole number from 1 to 2147483647."),
        (f"a=1&b={FIVE_THOUSAND_DIGITS}", "Revision B is a whole number from 1 to 2147483647."),
        (f"a=1&b={TWENTY_DIGITS}", "Revision B is a whole number from 1 to 2147483647."),
        ("a=-1&b=2", "Revision A is a whole number from 1 to 2147483647."),
        ("a=1", "Pick two revisions to compare."),
    ],
    ids=["superscript", "5000 digits", "20 digits", "negative", "missing"],
)
def test_a_malformed_revision_to_compare_is_named_on_the_revisions_page(
    designer: User, sheet: Sheet, query: str, message: str
) -> None:
    client = client_for(designer)

    response = client.get(f"/sheets/{sheet.pk}/revisions/diff/?{query}")

    assert response.status_code == 302
    assert response["Location"] == f"/sheets/{sheet.pk}/revisions/"
    page = client.get(response["Location"]).content.decode()
    prefix = (
        "Pick two revisions to compare. " if message != "Pick two revisions to compare." else ""
    )
    assert f'<li class="message error">{prefix}{message}</li>' in page


def test_an_ou_lookup_for_a_superscript_digit_finds_nothing(designer: User) -> None:
    OrganizationUnit.objects.create(name="Urk", backend_id="urk", type="Shop")

    for query in ("%C2%B2", FIVE_THOUSAND_DIGITS, TWENTY_DIGITS):
        response = client_for(designer).get(f"/sheets/organization-units/?q={query}")

        assert (response.status_code, response.json()) == (200, {"results": []})


# --- Preview: ?sheet=, organization_units, order_count, row numbers -------------------------


@pytest.mark.parametrize(
    "raw",
    ["%C2%B2", FIVE_THOUSAND_DIGITS, TWENTY_DIGITS, "0"],
    ids=["superscript", "5000 digits", "20 digits", "zero"],
)
def test_a_malformed_sheet_to_preview_is_a_400_naming_the_field(designer: User, raw: str) -> None:
    response = client_for(designer).get(f"/preview/?sheet={raw}")

    assert response.status_code == 400
    assert (
        "<code>sheet</code>: A sheet to preview is named by its ID, a whole number from 1 to "
        "2^63-1." in response.content.decode()
    )


def test_a_sheet_to_preview_given_by_its_id_fills_the_draft(designer: User, sheet: Sheet) -> None:
    response = client_for(designer).get(f"/preview/?sheet={sheet.pk}")

    assert response.status_code == 200
    assert "# two" in response.content.decode()


def test_malformed_organization_units_in_a_preview_link_tick_no_box(designer: User) -> None:
    unit = OrganizationUnit.objects.create(name="Urk", backend_id="urk", type="Shop")

    response = client_for(designer).get(
        f"/preview/?organization_units=%C2%B2&organization_units={FIVE_THOUSAND_DIGITS}"
        f"&organization_units={unit.pk}"
    )

    assert response.status_code == 200
    assert response.context["values"]["units"] == {unit.pk}


@pytest.mark.parametrize("raw", ["²", FIVE_THOUSAND_DIGITS], ids=["superscript", "5000 digits"])
def test_a_malformed_backtest_order_count_is_the_forms_error_and_nothing_is_written(
    designer: User, raw: str
) -> None:
    client = client_for(designer)
    before = table_rows()

    response = client.post(
        "/preview/backtests/", {"draft-0-source": sheet_text("Fallback"), "order_count": raw}
    )

    assert response.status_code == 400
    assert f"<code>order_count</code>: &#x27;{raw}&#x27; is not a whole number." in (
        response.content.decode()
    )
    assert table_rows() == before
    assert not Backtest.objects.exists()


@pytest.mark.parametrize("raw", ["-5", "0", "10001", FIVE_THOUSAND_DIGITS[:30]])
@pytest.mark.parametrize("with_draft", [True, False], ids=["with a draft", "without a draft"])
def test_a_backtest_order_count_out_of_range_is_refused_naming_the_range(
    designer: User, raw: str, with_draft: bool
) -> None:
    """With or without a draft sheet (the service would name only the missing draft)."""
    client = client_for(designer)
    before = table_rows()
    data = {
        "order_count": raw,
        **({"draft-0-source": sheet_text("Fallback")} if with_draft else {}),
    }

    response = client.post("/preview/backtests/", data)

    assert response.status_code == 400
    assert (
        f"<code>order_count</code>: Compare over 1 to 10,000 orders, not {raw}."
        in response.content.decode()
    )
    assert table_rows() == before
    assert not Backtest.objects.exists()


def test_a_backtest_order_count_that_is_no_number_names_the_range_too(designer: User) -> None:
    response = client_for(designer).post("/preview/backtests/", {"order_count": "abc"})

    assert response.status_code == 400
    assert (
        "<code>order_count</code>: &#x27;abc&#x27; is not a whole number. Compare over 1 to "
        "10,000 orders." in response.content.decode()
    )
    assert not Backtest.objects.exists()


def test_the_latest_orders_field_says_its_range(designer: User) -> None:
    page = client_for(designer).get("/preview/").content.decode()

    assert 'min="1" max="10000" aria-describedby="order-count-help">' in page
    assert '<p class="help" id="order-count-help">1 to 10,000</p>' in page


def test_a_preview_row_numbered_past_nine_digits_is_no_row(designer: User) -> None:
    """The form numbers its rows from 0; a 5,000-digit row number is no row of it."""
    response = client_for(designer).post(
        "/preview/",
        urlencode({f"draft-{FIVE_THOUSAND_DIGITS}-source": sheet_text("Fallback")}),
        content_type="application/x-www-form-urlencoded",  # multipart caps a name's length
    )

    assert response.status_code == 400
    assert response.context["values"]["drafts"] == [{"sheet": "", "name": "", "source": ""}]
