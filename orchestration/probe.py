"""The hostile probe (``manage.py probe``): thousands of malformed requests, no 5xx.

Bad input must be a clear 4xx, never a 500 (issue 18). The probe sends requests that
no well-behaved client would, and counts the answers by status class:

- every WRITE operation of the API (POST, PUT, PATCH, DELETE, from the OpenAPI schema
  that ``drf_spectacular`` generates), with a body shaped like the schema's and then
  spoiled: a field of the wrong type, NUL, a lone surrogate, "²", numbers of 20 and
  5,000 digits, unknown fields (nested too), a missing field, JSON nested 5,000 deep,
  invalid UTF-8, an empty body, a wrong content type;
- every Suite page and form of the URLconf, GET with hostile query strings and path
  values and POST with hostile form fields (the names each view reads) and bodies;
- the admin's lists, with each of their filters set to a hostile value, and its
  bulk action on hostile IDs;

each as one of several roles: anonymous, a user without permissions, a designer, an
integrator, store staff, a superuser. The requests come from a seeded
``random.Random``, so a run is repeatable: the same seed sends the same requests.

A request is a ``ProbeRequest`` (method, path with its percent-encoded query string,
raw body bytes, content type, role). ``TestClientTransport`` sends it through Django's
test client (``manage.py probe`` makes a throwaway database for it, loads the demo
retailer and drops it afterwards); ``HttpTransport`` sends it to a live server
(``--url``). Every answer of 500 or more is kept with its request, and, through the
test client, with the exception that caused it.
"""

import http.cookiejar
import json
import random
import re
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from django.contrib.auth.models import Group, User

from . import models
from .engine.settings import DEFINITIONS
from .models import OrganizationUnit
from .services.roles import DESIGNERS_GROUP, INTEGRATIONS_GROUP, STORE_STAFF_GROUP, roles_ensure

# How much of a request's body and of an exception the report repeats.
EXCERPT = 160
SCRIPT = '<script>alert("probe")</script>'
# Markers a JSON body is written with and then replaced by what json.dumps cannot write.
BIG_NUMBER = "@@probe-5000-digit-number@@"
DEEP = "@@probe-nested-5000-deep@@"
DEPTH = 5000
ROLES = ("anonymous", "nobody", "designer", "integrator", "store staff", "superuser")

# Hostile text for a query string or a form field, percent-encoded as it travels.
HOSTILE_TEXT = (
    "%00",
    "a%00b",
    "%ED%A0%80",  # a lone surrogate, as UTF-8 would spell it (invalid UTF-8)
    "%FF%FE",
    "%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "9" * 5000,
    "9" * 20,
    "-1",
    "-" + "9" * 20,
    "0",
    "1.5",
    "1e308",
    quote("' OR 1=1 --"),
    quote(SCRIPT),
    quote("../../etc/passwd"),
    "x" * 20_000,
    "",
    quote("fulfillment Probe\raction CANCEL\r"),  # CR-only line endings
    quote("[]"),
    quote('{"a": 1}'),
    "true",
)
# Hostile JSON values (Python objects json.dumps writes; the markers are replaced).
HOSTILE_JSON: tuple[Any, ...] = (
    None,
    "",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate: json.dumps writes it as the escape "\ud800"
    "²",
    10**20,
    -(10**20),
    10**30,
    BIG_NUMBER,
    1e308,
    1.5,
    -1,
    0,
    True,
    [],
    {},
    [[[[]]]],
    {"unknown": 1},
    "x" * 100_000,
    SCRIPT,
    "' OR 1=1 --",
    "2026-02-30T25:61:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    DEEP,
)
# Path parameters: a real ID most of the time, else one of these.
HOSTILE_IDS = ("0", "9" * 20, "9" * 5000, "-1", "%C2%B2", "%00", "abc", "%ED%A0%80")
HOSTILE_INTS = ("0", "9" * 20, "9" * 5000)  # what an <int:...> converter lets through

# The names the Suite's views read from a query string.
QUERY_NAMES = (
    *("q", "page", "status", "sheet", "a", "b", "order", "id", "sort", "inactive"),
    *("finished", "next", "at", "time_zone", "scenario", "organization_units", "prefill"),
    *("draft-0-source", "stock-0-quantity", "o", "p", "e", "_to_field", "_popup"),
    *("_changelist_filters", "all", "identifier"),
)
# The fields each Suite form posts ("{line}" is a fulfilment or order line's ID).
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "sheets:create": ("name", "fulfillment", "template"),
    "sheets:editor": ("name", "fulfillment", "source", "comment", "confirm_fulfillment"),
    "sheets:visual": ("revision", "active", "comment", "slot-0", "slot-1", "slot-2", "slot-9"),
    "sheets:activate": ("active", "next"),
    "sheets:theme": ("dark",),
    "sheets:import": ("file",),
    "sheets:import_apply": ("fingerprint",),
    "preview:page": (
        *("order", "at", "time_zone", "scenario", "respect_current_fulfillments"),
        *("organization_units", "draft-0-sheet", "draft-0-name", "draft-0-source"),
        *("stock-0-organization_unit", "stock-0-product", "stock-0-quantity", "stock-0-mode"),
        *("draft-" + "9" * 5000 + "-source", "prefill"),
    ),
    "preview:backtest_create": ("draft-0-source", "draft-0-sheet", "order_count"),
    "orders:task_pick": ("picked-{line}", "picked-" + "9" * 5000, "reason"),
    "orders:task_ship": ("carrier", "tracking_number"),
    "orders:task_decline": ("reason",),
    "orders:return_create": ("quantity-{line}", "reason-{line}"),
    "orders:return_receive": ("received-{line}", "condition-{line}"),
}
# Suite views that take a POST without fields of their own.
POST_ONLY = (
    *("orders:task_", "orders:export_retry", "sheets:delete", "sheets:restore"),
    "sheets:check",  # JSON
)
# Forms that delete or destroy what later requests would use: a real ID now and then.
DESTRUCTIVE = ("sheets:delete",)
REAL_ID_CHANCE = 0.8
REAL_ID_CHANCE_DESTRUCTIVE = 0.1


@dataclass(frozen=True)
class ProbeRequest:
    """One request: ``path`` is percent-encoded and may carry a query string."""

    role: str
    method: str
    path: str
    body: bytes = b""
    content_type: str | None = None
    what: str = ""

    @property
    def area(self) -> str:
        """What the request probes: API writes, Suite forms or pages, the admin."""
        if self.path.startswith("/api/"):
            return "API writes"
        if self.path.startswith("/admin/"):
            return "admin"
        return "Suite forms" if self.method == "POST" else "Suite pages"

    def describe(self) -> str:
        """The request as the report shows it, long parts cut short."""
        path = self.path if len(self.path) <= 2 * EXCERPT else f"{self.path[:EXCERPT]}…"
        text = f"{self.method} {path} as {self.role} ({self.what})"
        if self.body or self.content_type:
            body = self.body[:EXCERPT].decode("utf-8", "backslashreplace")
            more = "…" if len(self.body) > EXCERPT else ""
            text += f"\n    {self.content_type}, {len(self.body):,} bytes: {body!r}{more}"
        return text


@dataclass(frozen=True)
class Answer:
    """What came back: the status, and the exception behind a 5xx where it is known."""

    status: int
    error: str = ""


class Transport(Protocol):
    """Sends a probe request and says what came back."""

    def send(self, request: ProbeRequest) -> Answer: ...


@dataclass
class World:
    """What the requests name: existing IDs by kind, route patterns, the API's write
    operations and their body schemas."""

    ids: dict[str, list[str]]
    suite_routes: list[tuple[str, str]]  # (name, route with <converter:name> placeholders)
    admin_lists: list[tuple[str, list[str]]]  # (changelist path, filter names)
    operations: list[tuple[str, str, dict[str, Any] | None]]  # (method, path, body schema)
    components: dict[str, Any] = field(default_factory=dict)

    def id_of(self, kind: str, rng: random.Random, *, destructive: bool = False) -> str:
        """A real ID of ``kind`` most of the time, else a hostile one."""
        chance = REAL_ID_CHANCE_DESTRUCTIVE if destructive else REAL_ID_CHANCE
        real = self.ids.get(kind) or []
        if real and rng.random() < chance:
            return rng.choice(real)
        return rng.choice(HOSTILE_IDS)


# --- Bodies from the schema -------------------------------------------------------------


def _resolve(node: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[-1]]
    for key in ("allOf", "oneOf", "anyOf"):
        if key in node:
            choices = [c for c in node[key] if _resolve(c, components).get("type") != "null"]
            return _resolve((choices or node[key])[0], components)
    return node


def example(
    node: dict[str, Any],
    components: dict[str, Any],
    sample: Callable[[str], Any] | None = None,
    depth: int = 0,
) -> Any:
    """A value shaped like the schema ``node``: the first choice of each enum, and for a
    property that ``sample`` knows (an existing product, "NL"...) its value, so that a
    body gets past the checks before the one spoiled field."""
    node = _resolve(node, components)
    if depth > 6:
        return None
    if "enum" in node:
        return next((value for value in node["enum"] if value is not None), None)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        found = {}
        for name, child in node.get("properties", {}).items():
            if _resolve(child, components).get("readOnly"):
                continue
            known = sample(name) if sample is not None else None
            found[name] = (
                known if known is not None else example(child, components, sample, depth + 1)
            )
        return found
    if kind == "array":
        return [example(node.get("items", {}), components, sample, depth + 1)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    if kind == "string":
        return {"date-time": "2026-11-23T10:00:00+01:00", "date": "2026-11-23"}.get(
            node.get("format", ""), "probe"
        )
    return None


# Plausible values by property name, so that a body is valid but for what is spoiled.
PLAUSIBLE: dict[str, tuple[Any, ...]] = {
    "country_id": ("NL",),
    "time_zone": ("Europe/Amsterdam",),
    "type": ("Shop", "Warehouse"),
    "customer_email": ("probe@example.com",),
    "currency_id": ("EUR",),
    "zip_code": ("1016 BR",),
    "latitude": (52.37,),
    "longitude": (4.89,),
    "at": ("2026-11-23T10:00",),
    "source": ("fulfillment Probe\naction CANCEL\n",),
    "fulfillment": ("Probe",),
    "sets": ([],),
    "replacements": ([],),
    "scenario": (None,),
    "content": (None,),
    "custom_fields": ({},),
    "condition": ("Sellable", "Damaged"),
    "carrier": ("PostNL",),
    "password": ("probe-password",),
}
# Property names whose value is an existing object's ID (or backend ID) of a kind.
PLAUSIBLE_IDS = {
    "product": "product backend",
    "order": "order backend",
    "organization_unit": "unit",
    "sold_from_organization_unit": "unit",
    "organization_units": "unit",
    "sheet": "sheet",
    "order_line": "order line",
    "id": "line",
    "username": "username",
}


def _places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value (the value itself first)."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _places(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _places(child, (*path, index))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _remove(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1 and isinstance(value, dict):
        return {key: child for key, child in value.items() if key != path[0]}
    if len(path) <= 1:
        return value
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _remove(value[head], rest)}
    copy = list(value)
    copy[head] = _remove(copy[head], rest)
    return copy


def _dumps(value: Any) -> bytes:
    text = json.dumps(value)
    text = text.replace(json.dumps(BIG_NUMBER), "9" * 5000)
    text = text.replace(json.dumps(DEEP), "[" * DEPTH + "]" * DEPTH)
    return text.encode()


def json_body(schema: dict[str, Any] | None, world: World, rng: random.Random) -> tuple[bytes, str]:
    """A JSON body for an operation: its schema's shape, spoiled one way; and what was done."""

    def sample(name: str) -> Any:
        if name in PLAUSIBLE:
            return rng.choice(PLAUSIBLE[name])
        if name == "backend_id":
            return f"PROBE-{rng.randrange(10**6)}"
        real = world.ids.get(PLAUSIBLE_IDS.get(name, ""))
        if not real:
            return None
        picked = rng.choice(real)
        value = int(picked) if picked.isdigit() else picked
        return [value] if name == "organization_units" else value

    base = example(schema, world.components, sample) if schema else {}
    roll = rng.random()
    if roll < 0.08:
        return _dumps(base), "schema-shaped"
    if roll < 0.45:
        path = rng.choice(list(_places(base)))
        bad = rng.choice(HOSTILE_JSON)
        name = ".".join(map(str, path)) or "the body"
        return _dumps(_replace(base, path, bad)), f"{name} = {_short(bad)}"
    if roll < 0.58:
        containers = [p for p in _places(base) if _at(base, p).__class__ is dict]
        path = rng.choice(containers) if containers else ()
        unknown = rng.choice(["unknown", "active", "id", "\x00", "\ud800", "x" * 1000])
        target = _at(base, path) if containers else {}
        spoiled = _replace(base, path, {**target, unknown: rng.choice(HOSTILE_JSON[:12])})
        return _dumps(spoiled), f"unknown field {_short(unknown)} at {'.'.join(map(str, path))}"
    if roll < 0.66:
        paths = [p for p in _places(base) if p]
        path = rng.choice(paths) if paths else ()
        return _dumps(_remove(base, path)), f"without {'.'.join(map(str, path))}"
    raw = rng.choice(
        [
            (b"", "empty body"),
            (b"{", "truncated JSON"),
            (b"not json", "not JSON"),
            (b'"\xed\xa0\x80"', "invalid UTF-8"),
            (b"\xef\xbb\xbf{}", "a byte-order mark"),
            (b"[" * DEPTH + b"]" * DEPTH, "arrays nested 5,000 deep"),
            (b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, "objects nested 5,000 deep"),
            (b"9" * 5000, "a 5,000-digit number"),
            (b"null", "null"),
            (b"[]", "an empty list"),
            (b'"\\ud800"', "a lone surrogate"),
            (b"NaN", "NaN"),
            (b"1e999", "infinity"),
            (json.dumps([base] * 50).encode(), "a list of 50 bodies"),
        ]
    )
    return raw


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _short(value: Any) -> str:
    if value in (BIG_NUMBER, DEEP):
        return "a 5,000-digit number" if value == BIG_NUMBER else "arrays nested 5,000 deep"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}…"


# --- Form bodies and query strings --------------------------------------------------------


def query_string(rng: random.Random, names: Sequence[str] = QUERY_NAMES) -> tuple[str, str]:
    """A hostile query string: one name, several, repeated, or a NUL in a name."""
    roll = rng.random()
    if roll < 0.5:
        name, value = rng.choice(names), rng.choice(HOSTILE_TEXT)
        return f"{quote(name)}={value}", f"{name}={value[:30]}"
    if roll < 0.8:
        picked = rng.sample(list(names), k=min(len(names), rng.randint(2, 6)))
        value = rng.choice([v for v in HOSTILE_TEXT if len(v) < 1000])
        return "&".join(
            f"{quote(n)}={value}" for n in picked
        ), f"{len(picked)} names = {value[:30]}"
    if roll < 0.9:
        name = rng.choice(names)
        values = [v for v in HOSTILE_TEXT if len(v) < 1000]
        return f"{quote(name)}=1&{quote(name)}={rng.choice(values)}", f"{name} repeated"
    return "%00=1", "NUL in a name"


def form_body(
    fields: Sequence[str], rng: random.Random, lines: Sequence[str]
) -> tuple[bytes, str | None, str]:
    """A hostile form body for ``fields``: (body, content type, what)."""
    names = [name.replace("{line}", rng.choice(lines) if lines else "1") for name in fields]
    roll = rng.random()
    if roll < 0.6:
        chosen = {name: rng.choice(HOSTILE_TEXT) for name in names}
        text = "&".join(f"{quote(name)}={value}" for name, value in chosen.items())
        target = rng.choice(names) if names else "-"
        return text.encode(), "application/x-www-form-urlencoded", f"form, {target} hostile"
    if roll < 0.7:
        boundary = "probe-boundary"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{urllib.parse.unquote(rng.choice(HOSTILE_TEXT))}\r\n"
            for name in names
        ]
        body = ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8", "surrogatepass")
        return body, f"multipart/form-data; boundary={boundary}", "multipart form"
    if roll < 0.8:
        data = {name: rng.choice(HOSTILE_JSON[:20]) for name in names}
        return _dumps(data), "application/json", "JSON to a form"
    if roll < 0.9:
        return b"", "application/x-www-form-urlencoded", "empty form"
    return (
        rng.choice([b"\xff\xfe\x00", b"a=%ZZ&b", b"&&&==&", b"x=" + b"y" * 100_000]),
        rng.choice(["application/x-www-form-urlencoded", "text/plain", "application/xml"]),
        "garbled body",
    )


# --- The requests ---------------------------------------------------------------------------


def _fill(route: str, values: dict[str, str]) -> str:
    path = re.sub(r"(?<!\?P)<(?:\w+:)?(\w+)>", lambda m: values[m[1]], route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m[1], "orchestration"), path)
    return "/" + path.lstrip("^").rstrip("$")


# The kind of object each Suite path parameter names, by route name and parameter.
SUITE_KINDS = {
    "pk": {"sheets": "sheet", "preview": "backtest", "orders": "order"},
    "number": "revision",
    "attempt": "attempt",
    "unit_id": "unit",
    "fulfillment_pk": "fulfillment",
    "key": "step-groups",
}
TASK_ROUTES = ("orders:task_", "orders:export_retry")
RETURN_ROUTES = ("orders:return_form", "orders:return_form_pdf", "orders:return_receive")


def _suite_path(name: str, route: str, world: World, rng: random.Random) -> str:
    values = {}
    for converter, parameter in re.findall(r"(?<!\?P)<(?:(\w+):)?(\w+)>", route):
        kind: Any = SUITE_KINDS.get(parameter, "order")
        if isinstance(kind, dict):
            kind = kind.get(name.split(":")[0], "order")
        if parameter == "pk" and name.startswith(TASK_ROUTES):
            kind = "fulfillment"
        if name in RETURN_ROUTES and parameter == "pk":
            kind = "return order"
        value = world.id_of(kind, rng, destructive=name in DESTRUCTIVE)
        if converter == "int" and not (value.isascii() and value.isdigit()):
            value = rng.choice(HOSTILE_INTS)  # what the converter lets through
        values[parameter] = value
    return _fill(route, values)


def _api_path(path: str, world: World, rng: random.Random, method: str) -> str:
    kind = path.split("/")[2]  # /api/<resource>/...
    destructive = method == "DELETE"

    def value(match: re.Match[str]) -> str:
        name = match[1]
        if name == "line_id":
            return world.id_of("order line", rng)
        if name == "name":
            return quote(world.id_of("setting", rng), safe="")
        return world.id_of(kind, rng, destructive=destructive)

    return re.sub(r"\{(\w+)\}", value, path)


# The editor's live check takes JSON: {"source", "fulfillment"}.
CHECK_SCHEMA = {
    "type": "object",
    "properties": {"source": {"type": "string"}, "fulfillment": {"type": "string"}},
}


def requests(
    world: World, rng: random.Random, roles: Sequence[str] = ROLES
) -> Iterator[ProbeRequest]:
    """Hostile requests, endlessly: API writes, Suite pages and forms, admin lists."""
    suite_gets = list(world.suite_routes)
    suite_posts = [
        (name, route)
        for name, route in world.suite_routes
        if name in FORM_FIELDS or name.startswith(POST_ONLY)
    ]
    while True:
        role = rng.choice(roles)
        roll = rng.random()
        if roll < 0.45 and world.operations:
            method, path, schema = rng.choice(world.operations)
            body, what = json_body(schema, world, rng)
            content_type: str | None = "application/json"
            if rng.random() < 0.08:
                content_type = rng.choice(
                    ["text/plain", "application/xml", "application/x-www-form-urlencoded"]
                )
                what += f", sent as {content_type}"
            full = _api_path(path, world, rng, method)
            if rng.random() < 0.15:
                query, about = query_string(rng, ("format", "page", "fields", "q"))
                full, what = f"{full}?{query}", f"{what}; {about}"
            yield ProbeRequest(role, method, full, body, content_type, what)
        elif roll < 0.65:
            name, route = rng.choice(suite_posts)
            path = _suite_path(name, route, world, rng)
            if name == "sheets:check":
                body, what = json_body(CHECK_SCHEMA, world, rng)
                yield ProbeRequest(role, "POST", path, body, "application/json", what)
                continue
            body, content_type, what = form_body(
                FORM_FIELDS.get(name, ("next",)), rng, world.ids.get("line", [])
            )
            yield ProbeRequest(role, "POST", path, body, content_type, f"{name}: {what}")
        elif roll < 0.87:
            name, route = rng.choice(suite_gets)
            query, what = query_string(rng)
            yield ProbeRequest(
                role, "GET", f"{_suite_path(name, route, world, rng)}?{query}", what=what
            )
        elif world.admin_lists:
            path, filters = rng.choice(world.admin_lists)
            if rng.random() < 0.75:
                query, what = query_string(rng, [*filters, *(f"{f}__in" for f in filters), "q"])
                yield ProbeRequest(role, "GET", f"{path}?{query}", what=what)
            else:
                selected = "&".join(
                    f"_selected_action={rng.choice(HOSTILE_TEXT[:12])}" for _ in range(3)
                )
                body = f"action=delete_selected&index=0&{selected}".encode()
                yield ProbeRequest(
                    role,
                    "POST",
                    path,
                    body,
                    "application/x-www-form-urlencoded",
                    "admin action on hostile IDs",
                )


# --- Running ------------------------------------------------------------------------------


@dataclass
class Report:
    """Answers by status class, and every 5xx with its request."""

    counts: Counter[str] = field(default_factory=Counter)
    by_area: dict[str, Counter[str]] = field(default_factory=dict)
    server_errors: list[tuple[ProbeRequest, Answer]] = field(default_factory=list)

    def add(self, request: ProbeRequest, answer: Answer) -> None:
        """Count an answer; keep it with its request if it is a 5xx."""
        kind = f"{answer.status // 100}xx"
        self.counts[kind] += 1
        self.by_area.setdefault(request.area, Counter())[kind] += 1
        if answer.status >= 500:
            self.server_errors.append((request, answer))

    def lines(self) -> list[str]:
        """The report as printed by ``manage.py probe``."""

        def tally(counts: Counter[str]) -> str:
            return ", ".join(f"{kind} {counts[kind]:,}" for kind in sorted(counts))

        found = [f"{sum(self.counts.values()):,} requests: {tally(self.counts)}"]
        for area in sorted(self.by_area):
            counts = self.by_area[area]
            found.append(f"  {area} ({sum(counts.values()):,}): {tally(counts)}")
        found.append(f"{len(self.server_errors)} server errors")
        for request, answer in self.server_errors:
            found.append(f"- {answer.status} {request.describe()}")
            if answer.error:
                found.append(f"    raised {answer.error}")
        return found


def run(
    transport: Transport,
    world: World,
    *,
    count: int,
    seed: int,
    roles: Sequence[str] = ROLES,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Send ``count`` hostile requests (from ``seed``) as ``roles`` and report the answers."""
    report = Report()
    rng = random.Random(seed)  # noqa: S311 - repeatable, not a secret
    generated = requests(world, rng, roles)
    for number in range(1, count + 1):
        request = next(generated)
        report.add(request, transport.send(request))
        if progress is not None:
            progress(number)
    return report


# --- Transports -----------------------------------------------------------------------------


class TestClientTransport:
    """Through Django's test client, each role signed in as its own user."""

    __test__ = False  # not a pytest test class

    def __init__(self, users: dict[str, Any], host: str = "testserver") -> None:
        from django.core.signals import got_request_exception
        from django.test import Client

        self.clients = {}
        for role in ROLES:
            client = Client(raise_request_exception=False, HTTP_HOST=host)
            if users.get(role) is not None:
                client.force_login(users[role])
            self.clients[role] = client
        self.last_error = ""
        got_request_exception.connect(self._remember, dispatch_uid="probe")

    def _remember(self, sender: Any, request: Any = None, **kwargs: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        text = f"{type(error).__name__}: {error}" if error else ""
        self.last_error = text if len(text) <= 2 * EXCERPT else f"{text[: 2 * EXCERPT]}…"

    def send(self, request: ProbeRequest) -> Answer:
        self.last_error = ""
        client = self.clients[request.role]
        extra: dict[str, Any] = {}
        if request.content_type is not None:
            extra["content_type"] = request.content_type
        response = client.generic(request.method, request.path, request.body, **extra)
        return Answer(response.status_code, self.last_error)

    def close(self) -> None:
        """Stop listening for request exceptions."""
        from django.core.signals import got_request_exception

        got_request_exception.disconnect(dispatch_uid="probe")


class HttpTransport:
    """Over HTTP to a live server: anonymous, and each role given a username and password
    (signed in through the Suite's sign-in page; the CSRF token goes in a header)."""

    def __init__(self, base_url: str, logins: dict[str, tuple[str, str]], timeout: float = 30):
        if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
            raise ValueError(f"{base_url!r} is not an http(s) URL.")
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.openers: dict[str, tuple[urllib.request.OpenerDirector, http.cookiejar.CookieJar]] = {}
        for role in ROLES:
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(jar), _NoRedirect()
            )
            self.openers[role] = (opener, jar)
            if role in logins:
                self._sign_in(role, *logins[role])

    def _csrf(self, role: str) -> str:
        _opener, jar = self.openers[role]
        return next((cookie.value or "" for cookie in jar if cookie.name == "csrftoken"), "")

    def _sign_in(self, role: str, username: str, password: str) -> None:
        opener, _jar = self.openers[role]
        opener.open(f"{self.base}/accounts/login/", timeout=self.timeout).read()
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": self._csrf(role)}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            f"{self.base}/accounts/login/", body, headers={"Referer": f"{self.base}/"}
        )
        try:
            opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            if error.code != 302:
                raise RuntimeError(f"Signing in {username} answered {error.code}.") from error

    def send(self, request: ProbeRequest) -> Answer:
        opener, _jar = self.openers[request.role]
        headers = {"X-CSRFToken": self._csrf(request.role), "Referer": f"{self.base}/"}
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        http_request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.base + request.path,
            data=request.body if request.method not in ("GET", "HEAD") else None,
            headers=headers,
            method=request.method,
        )
        try:
            with opener.open(http_request, timeout=self.timeout) as response:
                return Answer(response.status)
        except urllib.error.HTTPError as error:
            return Answer(error.code)
        except (urllib.error.URLError, OSError) as error:
            return Answer(599, f"no answer: {error}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as it is, rather than following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# --- The world of a database ----------------------------------------------------------------


def users_for_roles() -> dict[str, Any]:
    """A user for each role, made in the current database (anonymous is None); store
    staff work at every shop, so that their tasks are theirs to work."""
    roles_ensure()

    def user(name: str, group: str | None = None) -> User:
        made = User.objects.create_user(f"probe-{name}")
        if group is not None:
            made.groups.add(Group.objects.get(name=group))
        return made

    staff = user("store-staff", STORE_STAFF_GROUP)
    for unit in OrganizationUnit.objects.filter(type="Shop"):
        unit.staff.add(staff)
    return {
        "anonymous": None,
        "nobody": user("nobody"),
        "designer": user("designer", DESIGNERS_GROUP),
        "integrator": user("integrator", INTEGRATIONS_GROUP),
        "store staff": staff,
        "superuser": User.objects.create_superuser("probe-superuser"),
    }


# The kinds of object a request names by ID (API kinds are the resource's path).
KINDS = (
    *("sheet", "revision", "backtest", "order", "return order", "attempt", "unit"),
    *("fulfillment", "line", "order line", "setting", "organization-units"),
    *("organization-unit-sets", "products", "orders", "sheets", "fulfillments"),
    *("step-groups", "plan-scenarios", "fallout-rules"),
)


def database_ids(limit: int = 20) -> dict[str, list[str]]:
    """Up to ``limit`` IDs of each kind in the current database."""

    def ids(queryset: Any, field_name: str = "pk") -> list[str]:
        return [str(value) for value in queryset.values_list(field_name, flat=True)[:limit]]

    fulfillments = ids(models.OrderFulfillment.objects.all())
    units = ids(models.OrganizationUnit.objects.all())
    orders = ids(models.Order.objects.all())
    sheets = ids(models.Sheet.objects.all())
    return {
        "sheet": sheets,
        "revision": ids(models.SheetRevision.objects.all(), "number"),
        "backtest": ids(models.Backtest.objects.all()),
        "order": ids(models.Order.objects.filter(intent="Sales")),
        "return order": ids(models.Order.objects.filter(intent="Returns")),
        "attempt": ids(models.OrchestrationDetails.objects.all(), "attempt"),
        "unit": units,
        "fulfillment": fulfillments,
        "line": ids(models.OrderFulfillmentLine.objects.all())
        + ids(models.OrderLine.objects.all()),
        "order line": ids(models.OrderLine.objects.all()),
        "setting": ids(models.Setting.objects.all(), "name"),
        "product backend": ids(models.Product.objects.all(), "backend_id"),
        "order backend": ids(models.Order.objects.all(), "backend_id"),
        "username": ["probe-integrator", "probe-superuser"],
        "organization-units": units,
        "organization-unit-sets": ids(models.OrganizationUnitSet.objects.all()),
        "products": ids(models.Product.objects.all()),
        "orders": orders,
        "sheets": sheets,
        "fulfillments": fulfillments,
        "step-groups": ids(models.StepGroup.objects.all(), "key"),
        "plan-scenarios": ids(models.PlanScenario.objects.all()),
        "fallout-rules": ids(models.FalloutRule.objects.all()),
    }


def guessed_ids(limit: int = 20) -> dict[str, list[str]]:
    """IDs for a server whose database the probe cannot read: 1 to ``limit`` of each
    kind, and the settings the suite defines."""
    numbers = [str(number) for number in range(1, limit + 1)]
    return {kind: numbers for kind in KINDS} | {"setting": list(DEFINITIONS)}


def build_world(ids: dict[str, list[str]]) -> World:
    """The Suite's routes, the admin's lists and the API's write operations (from the
    OpenAPI schema), with ``ids`` to name objects by."""
    from django.contrib import admin
    from django.db.models import CharField, TextField
    from django.urls import URLPattern, URLResolver, get_resolver
    from drf_spectacular.generators import SchemaGenerator

    suite_routes = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and namespace in ("sheets", "preview", "orders"):
                suite_routes.append((f"{namespace}:{pattern.name}", route))

    walk(get_resolver().url_patterns, "", "")

    admin_lists = []
    for model in admin.site._registry:
        if model._meta.app_label == "orchestration":
            filters = [
                f.name for f in model._meta.get_fields() if not isinstance(f, CharField | TextField)
            ]
            admin_lists.append((f"/admin/orchestration/{model._meta.model_name}/", filters))

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if method in ("post", "put", "patch", "delete"):
                content = operation.get("requestBody", {}).get("content", {})
                body = (content.get("application/json") or {}).get("schema")
                operations.append((method.upper(), path, body))
    return World(ids, suite_routes, admin_lists, operations, schema["components"]["schemas"])
