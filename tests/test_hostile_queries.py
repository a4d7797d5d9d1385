"""Every Suite and admin GET URL, fetched with hostile query strings as each role: no 5xx.

The URLs come from the URLconf (``django.urls.get_resolver()``), so a page is covered
the day it is added: path parameters are filled with the demo retailer's IDs (a URL
the test does not know how to fill fails it, naming the URL) and, where the converter
lets them through, with hostile values. The hostile values: NUL, invalid UTF-8 (a lone
surrogate, percent-encoded), "²", 5,000 and 20 digits, negative numbers, SQL, HTML and
path fragments, very long text, nothing, repeated names.

- As each role, every URL gets one query string mixing all of them over every name
  the views read; each page that reads a query string (the Suite's, admin lists) also
  gets every name set to each value in turn.
- As a superuser, whom every view lets through: each Suite parameter alone with each
  value a view could turn into a number, and each admin filter alone (a view refusing
  the first malformed parameter would otherwise hide a crash on the next).

DEBUG is off and the client does not re-raise, so a crash shows as the 500 a user
would get; an HTML response must never carry the HTML fragment unescaped. Whatever a
query string holds, these fetches are reads: each one is a GET.
"""

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Model, TextField
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from orchestration.celery import app as celery_app
from orchestration.demo import demo_load
from orchestration.models import (
    Backtest,
    OrchestrationDetails,
    Order,
    PlanScenario,
    Sheet,
    StepGroup,
)

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("hostile")</script>'
# Hostile values, percent-encoded as they travel in a query string.
HOSTILE_VALUES = {
    "NUL": "%00",
    "NUL inside": "a%00b",
    "invalid UTF-8 (a lone surrogate)": "%ED%A0%80",
    "superscript digit": "%C2%B2",
    "5,000 digits": "9" * 5000,
    "20 digits": "9" * 20,
    "negative": "-1",
    "negative 20 digits": "-" + "9" * 20,
    "SQL": quote("' OR 1=1 --"),
    "HTML": quote(SCRIPT),
    "path traversal": quote("../../etc/passwd"),
    "very long": "x" * 20_000,
    "float": "1e308",
    "empty": "",
}
# The names the Suite's views read from a query string (grep "request.GET" and
# "source.get" in sheets/, preview/ and orders/) and the form fields the preview page
# also takes from one.
SUITE_NAMES = (
    *("q", "page", "status", "sheet", "a", "b", "order", "shop", "at", "ou", "id", "sort"),
    *("inactive", "finished", "next", "time_zone", "scenario", "respect_current_fulfillments"),
    *("organization_units", "draft-0-source", "draft-0-sheet", "stock-0-quantity"),
    *("stock-0-organization_unit", "draft-" + "9" * 30 + "-source", "prefill"),
    *("version", "from"),  # the plan group and edit pages
)
# Django admin's own names (ordering, page, all, error flag, popup, to_field, kept
# filters; the autocomplete view's) and some of its filters.
ADMIN_NAMES = (
    *("o", "p", "all", "e", "_popup", "_to_field", "_changelist_filters", "_changelist"),
    *("term", "app_label", "model_name", "field_name"),
    *("status__exact", "type__exact", "intent__exact", "is_active__exact", "expired"),
)
PARAMETER_NAMES = (*SUITE_NAMES, *ADMIN_NAMES)
# The Suite pages whose views read their query string (the same grep); the others get
# the names only all at once.
QUERY_PAGES = (
    *("sheets:overview", "sheets:organization_units", "sheets:diff", "preview:page"),
    *("preview:orders", "orders:list", "orders:stores", "orders:tasks", "orders:export_failures"),
    *("sheets:plan_group", "sheets:plan_edit"),
)
# Values that one name alone could turn into a number (or fail to), or be too long for.
NUMBERLIKE = ("superscript digit", "5,000 digits", "20 digits", "very long")
# Too heavy to give every name at once (a query string of 1 MB): given per name instead.
HEAVY = ("5,000 digits", "very long")
ROLES = ("anonymous", "nobody", "designer", "store staff", "superuser")
# Hostile values for path parameters, by converter ("int" takes digits only).
HOSTILE_INTS = ("0", "9" * 20, "9" * 5000)
HOSTILE_PATHS = ("%00", "%ED%A0%80", "%C2%B2", quote("' OR 1=1 --"), quote(SCRIPT), "-1")


@dataclass(frozen=True)
class Route:
    """A URL pattern of the URLconf: its route with ``<converter:name>`` placeholders."""

    route: str
    name: str  # "namespace:name", or the route for an unnamed pattern

    @property
    def parameters(self) -> list[tuple[str, str]]:
        """(converter, name) of each path parameter, regex groups as ("regex", name)."""
        found = re.findall(r"(?<!\?P)<(?:(\w+):)?(\w+)>", self.route)
        found = [(converter or "str", name) for converter, name in found]
        return found + [("regex", name) for name in re.findall(r"\(\?P<(\w+)>", self.route)]


def routes() -> list[Route]:
    """Every Suite, admin and sign-in route of the URLconf (the API has its own tests)."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[Route]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, (namespace, pattern.namespace or "")))
                yield from walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if pattern.name else route
                yield Route(route, name.lstrip(":"))

    return [r for r in walk(get_resolver().url_patterns, "", "") if not r.route.startswith("api/")]


def _admin_model(route: Route) -> Any:
    """The model of an admin route such as ``admin/orchestration/order/<path:object_id>/``."""
    app_label, model_name = route.route.split("/")[1:3]
    return apps.get_model(app_label, model_name)


def path_values(route: Route) -> dict[str, str]:
    """Real IDs of the demo for the route's path parameters."""
    sheet = Sheet.objects.order_by("pk").first()
    run = OrchestrationDetails.objects.order_by("pk").first()
    returned = Order.objects.filter(intent="Returns").order_by("pk").first()
    assert sheet is not None and run is not None and returned is not None
    fulfillment = returned.fulfillments.order_by("pk").first()
    assert fulfillment is not None
    backtest = Backtest.objects.get()
    group = StepGroup.objects.order_by("pk").first()
    scenario = PlanScenario.objects.order_by("pk").first()
    assert group is not None and scenario is not None
    known = {
        "sheets:plan_group": {"key": group.key},
        "sheets:plan_edit": {"key": group.key},
        "sheets:plan_activate": {"key": group.key, "number": 1},
        "sheets:plan_scenario_set": {"key": group.key},
        "sheets:plan_scenario_delete": {"key": group.key, "pk": scenario.pk},
        "sheets:plan_fallout_rule_delete": {"pk": 1},
        "sheets:restore": {"pk": sheet.pk, "number": 1},
        "preview:backtest": {"pk": backtest.pk},
        "orders:detail": {"pk": run.order_id},
        "orders:run": {"pk": run.order_id, "attempt": run.attempt},
        "orders:plan_json": {"pk": run.order_id},
        "orders:change": {"pk": run.order_id},
        "orders:plan_step_done": {"pk": run.order_id, "step_pk": 1},
        "orders:return_create": {"pk": run.order_id},
        "orders:retry_orchestration": {"pk": run.order_id},
        "orders:return_form": {"pk": returned.pk},
        "orders:return_form_pdf": {"pk": returned.pk},
        "orders:return_receive": {"pk": returned.pk, "fulfillment_pk": fulfillment.pk},
        "orders:tasks": {"unit_id": fulfillment.supplier_organization_unit_id},
        "orders:export_retry": {"pk": fulfillment.pk},
        "admin:auth_user_password_change": {"id": User.objects.get(username="admin").pk},
        "admin:view_on_site": {
            "content_type_id": ContentType.objects.get_for_model(Order).pk,
            "object_id": run.order_id,
        },
        "admin:app_list": {"app_label": "orchestration"},
        "password_reset_confirm": {"uidb64": "MQ", "token": "set-password"},
    }
    if route.name in known:
        values = known[route.name]
    elif route.name.startswith("sheets:"):
        values = {"pk": sheet.pk}
    elif route.name.startswith("orders:task_"):
        values = {"unit_id": fulfillment.supplier_organization_unit_id, "pk": fulfillment.pk}
    elif route.route.startswith("admin/") and route.parameters == [("path", "object_id")]:
        first = _admin_model(route)._default_manager.order_by("pk").first()
        values = {"object_id": first.pk if first is not None else 1}
    elif route.route.startswith("admin/") and route.parameters == [("regex", "url")]:
        values = {"url": "no/such/page/"}  # the admin's catch-all: a 404 (or sign-in)
    else:
        values = {}
    missing = {name for _converter, name in route.parameters} - set(values)
    assert not missing, f"{route.name} ({route.route}): no value for {missing}; add one above"
    return {name: str(value) for name, value in values.items()}


def fill(route: Route, values: dict[str, str]) -> str:
    """The route as a URL path, its parameters replaced by ``values`` (already encoded)."""
    path = re.sub(r"(?<!\?P)<(?:\w+:)?(\w+)>", lambda m: values[m[1]], route.route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m[1]], path)
    return "/" + path.lstrip("^").rstrip("$")


def real_urls(*, where: Callable[[Route], bool] = lambda route: True) -> list[str]:
    """Each route (``where`` it holds) with the demo's IDs."""
    return [fill(route, path_values(route)) for route in routes() if where(route)]


def hostile_path_urls() -> list[str]:
    """Each route with a hostile value in one path parameter, as its converter allows."""
    hostile = {"int": HOSTILE_INTS, "str": HOSTILE_PATHS, "path": HOSTILE_PATHS}
    found = []
    for route in routes():
        real = path_values(route)
        for converter, name in route.parameters:
            found += [fill(route, {**real, name: value}) for value in hostile.get(converter, ())]
    return found


def is_suite_page(route: Route) -> bool:
    """A route of the Suite's apps."""
    return route.name.split(":")[0] in ("sheets", "preview", "orders")


def queries() -> list[tuple[str, str]]:
    """(what, query string): every name at once, per hostile value; NUL in a name; every
    name twice with two values."""
    found = [
        (what, "&".join(f"{quote(name)}={value}" for name in PARAMETER_NAMES))
        for what, value in HOSTILE_VALUES.items()
        if what not in HEAVY
    ]
    found.append(("NUL in a name", "%00=1&q%00=1"))
    found.append(("repeated", "&".join(f"{quote(n)}=1&{quote(n)}=%C2%B2" for n in PARAMETER_NAMES)))
    return found


def mixed_query() -> tuple[str, str]:
    """One query string giving the names the hostile values in turn (short ones)."""
    values = [value[:100] for value in HOSTILE_VALUES.values() if "%00" not in value]
    pairs = [f"{quote(name)}={values[i % len(values)]}" for i, name in enumerate(PARAMETER_NAMES)]
    return "every value, mixed over the names", "&".join(pairs)


def reads_a_query(route: Route) -> bool:
    """A page whose view reads its query string: the Suite's, the admin's lists and
    index, the sign-in pages (``next``); not the admin's object pages."""
    return not route.route.startswith("admin/") or not (
        route.parameters or route.name.endswith("_add")
    )


def queries_per_name(
    names: Iterable[str], values: Iterable[str] = NUMBERLIKE
) -> list[tuple[str, str]]:
    """Each name alone with each of ``values`` (keys of HOSTILE_VALUES)."""
    return [
        (f"{name} = {what}", f"{quote(name)}={HOSTILE_VALUES[what]}")
        for name in names
        for what in values
    ]


def admin_filters(model: type[Model]) -> list[str]:
    """Every lookup a changelist URL can ask of ``model`` but text (admin allows any
    field, forward or reverse, plain or ``__in``; text is compared as text)."""
    names = [
        field.name
        for field in model._meta.get_fields()
        if not isinstance(field, CharField | TextField)
    ]
    return [*names, *(f"{name}__in" for name in names)]


def client_as(role: str) -> Client:
    client = Client(raise_request_exception=False)
    usernames = {"designer": "designer", "store staff": "kalverstraat", "superuser": "admin"}
    if role == "nobody":
        client.force_login(User.objects.create_user("nobody", password="secret-pass-123"))
    elif role in usernames:
        client.force_login(User.objects.get(username=usernames[role]))
    return client


def fetch_all(
    client: Client, targets: list[str], query_strings: list[tuple[str, str]]
) -> list[str]:
    """GET each target with each query; return what went wrong, one line per request."""
    wrong = []
    for url in targets:
        for what, query in query_strings:
            response = client.get(f"{url}?{query}")
            where = f"{response.status_code} GET {url[:120]} with {what}"
            if response.status_code >= 500:
                wrong.append(where)
            content_type = response.get("Content-Type", "")
            if content_type.startswith("text/html") and SCRIPT.encode() in response.content:
                wrong.append(f"{where}: the HTML fragment came back unescaped")
    return wrong


@pytest.fixture
def demo(
    settings: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """The demo retailer, its orders routed (inline), and a backtest; DEBUG off."""
    settings.DEBUG = False
    monkeypatch.setattr(celery_app.conf, "task_always_eager", True)
    with django_capture_on_commit_callbacks(execute=True):
        demo_load(stdout=io.StringIO(), password="demo-pass-123")
    Backtest.objects.create(drafts=[], order_count=1)


@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("role", ROLES)
def test_every_get_url_answers_hostile_query_strings_without_a_server_error(role: str) -> None:
    client = client_as(role)

    wrong = fetch_all(client, real_urls(), [mixed_query()])
    wrong += fetch_all(client, real_urls(where=reads_a_query), queries())

    assert not wrong, "\n".join(wrong)


@pytest.mark.usefixtures("demo")
def test_hostile_path_values_are_no_server_error() -> None:
    wrong = fetch_all(client_as("superuser"), hostile_path_urls(), [("no query", "")])

    assert not wrong, "\n".join(wrong)


@pytest.mark.usefixtures("demo")
def test_each_suite_parameter_alone_with_a_numberlike_value_is_no_server_error() -> None:
    """One name at a time, so a view that refuses the first malformed parameter cannot
    hide a crash on the next; as a superuser, whom every view lets through."""
    pages = real_urls(where=lambda route: route.name in QUERY_PAGES)
    assert len(pages) == len(QUERY_PAGES)

    wrong = fetch_all(client_as("superuser"), pages, queries_per_name(SUITE_NAMES))

    assert not wrong, "\n".join(wrong)


@pytest.mark.usefixtures("demo")
def test_each_admin_filter_alone_with_a_numberlike_value_is_no_server_error() -> None:
    """Each changelist of the domain's models, filtered on each of its fields alone (a
    first unknown lookup would send the admin to ``?e=1`` before the next is tried)."""
    numbers = ("superscript digit", "20 digits")
    wrong = []
    client = client_as("superuser")
    for route in routes():
        if route.name.startswith("admin:orchestration_") and route.name.endswith("_changelist"):
            names = admin_filters(_admin_model(route))
            wrong += fetch_all(client, [fill(route, {})], queries_per_name(names, numbers))

    assert not wrong, "\n".join(wrong)
