"""The visual editor's view of a sheet: scopes, statements in plain words, editable values.

``describe(source)`` turns a sheet into sections (the header, then one per scope)
of rows, one per statement or comment; each row is a sequence of segments: plain
words, source code as written, and *slots*, the values a designer may change in
place (string and number literals, lists of literals, reason codes and
descriptions, option values). ``apply_edits(source, edits)`` writes new values
into their slots and changes nothing else: each slot's text is replaced by the
formatter's rendering of the new value, so comments, layout and every other
character stay as they were. Adding or removing statements is the advanced
editor's job.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from . import nodes
from .errors import Diagnostic, Span
from .formatter import format_literal
from .lines import LineTable, normalize
from .parser import parse

STRING, NUMBER, LIST, REASON, DESCRIPTION, BOOLEAN = (
    "string",
    "number",
    "list",
    "reason",
    "description",
    "boolean",
)
# Lists compared with these open the OU picker: what a picked OU contributes.
PICKERS: dict[tuple[str, ...], str] = {
    ("Supplier", "BackendID"): "backend_id",
    ("Supplier", "ID"): "id",
}
_MEMBERSHIP = frozenset({"in", "not in", "contains", "not contains"})
_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REASON_CODE = re.compile(r"with\s+reason\s+('(?:[^'\\\n]|\\.)*')", re.IGNORECASE)


class VisualEditError(ValueError):
    """A new value that cannot go into its slot; ``slot`` says which.

    ``diagnostic`` is set when the value is fine on its own but the sheet would no
    longer parse with it (it takes the sheet past one of the parser's limits, such as
    ``MAX_NESTING``): the parser's diagnostic, positioned in the edited text.
    """

    def __init__(self, slot: str, message: str, diagnostic: Diagnostic | None = None) -> None:
        super().__init__(f"{slot}: {message}")
        self.slot = slot
        self.message = message
        self.diagnostic = diagnostic


@dataclass(frozen=True, slots=True)
class Slot:
    """An editable value: where it is and what it holds."""

    id: str  # "s1", "s2", ... in source order
    kind: str  # STRING, NUMBER, LIST, REASON, DESCRIPTION or BOOLEAN
    value: object  # str, Decimal, bool, or a tuple of str / Decimal for a list
    start: int  # offsets into the source, end exclusive
    end: int
    item_kind: str | None = None  # a list's items: STRING or NUMBER
    picker: str | None = None  # a list compared with Supplier.BackendID / Supplier.ID


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a row: plain words, code as written, or a slot."""

    text: str = ""
    code: bool = False
    slot: Slot | None = None


@dataclass(frozen=True, slots=True)
class Row:
    """One statement (or a comment on its own line), as the visual editor shows it."""

    line: int
    kind: str  # the statement's keyword, or "comment"
    segments: tuple[Segment, ...]
    comment: str | None = None  # a comment at the end of the statement's line


@dataclass(slots=True)
class Section:
    """The header (before the first scope) or one scope: its ``scope`` line (None for
    the header) and the comment at the end of that line."""

    title: str
    scope: str | None
    rows: list[Row] = field(default_factory=list)
    line: int | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Visual:
    """A sheet for the visual editor, or why it cannot be shown (syntax errors)."""

    sections: tuple[Section, ...]
    slots: Mapping[str, Slot]
    diagnostics: tuple[Diagnostic, ...]


def describe(source: str) -> Visual:
    """The sheet's sections, rows and slots; a sheet that does not parse has none.

    Slot offsets are in ``lines.normalize(source)``, the text the tokenizer counts
    positions in (every line break ``\n``).
    """
    source = normalize(source)
    sheet, diagnostics = parse(source)
    if diagnostics:
        return Visual((), {}, tuple(diagnostics))
    text = LineTable(source)
    builder = _Builder(text)
    for statement in sheet.statements:
        builder.statement(statement)
    builder.number_slots()
    builder.place_comments(sheet.comments)
    return Visual(tuple(builder.sections), builder.by_id, ())


# What each kind of slot is called where a refused value is named.
FIELD_NAMES = {
    STRING: "text",
    NUMBER: "number",
    LIST: "list of values",
    REASON: "reason code",
    DESCRIPTION: "reason description",
    BOOLEAN: "option value",
}


def slot_position(source: str, slot: Slot) -> tuple[int, int]:
    """The 1-based line and column (in characters) where ``slot`` starts in ``source``
    (the text ``describe`` was given): where a refused value is."""
    source = normalize(source)
    line_start = source.rfind("\n", 0, slot.start) + 1
    return source.count("\n", 0, slot.start) + 1, slot.start - line_start + 1


def slot_at(visual: Visual, source: str, span: Span) -> Slot | None:
    """The slot a problem at ``span`` of ``source`` (the text ``visual`` describes) is
    about: the one its start is in, else the only one it overlaps; None if neither."""
    table = LineTable(source)
    start, end = table.offsets(span)
    end = max(end, start + 1)
    overlapping = []
    for slot in visual.slots.values():
        if slot.start <= start < max(slot.end, slot.start + 1):
            return slot
        if slot.start < end and start < slot.end:
            overlapping.append(slot)
    return overlapping[0] if len(overlapping) == 1 else None


def apply_edits(source: str, edits: Mapping[str, object]) -> str:
    """``source`` with each slot in ``edits`` holding its new value; nothing else changes.

    Values come as a form sends them: text for strings, numbers, reason codes,
    descriptions and booleans ('true'/'false'), a sequence of texts for lists.
    Raises ``VisualEditError`` naming the slot for an unknown slot or a bad value,
    and for a value that is fine on its own but would leave a sheet that does not
    parse: a negative number (``-12.5`` is a minus applied to ``12.5``) one level
    inside the deepest nesting the parser takes, a long text or list that takes the
    sheet past its length or token limit. The edited text is parsed once to find out,
    so what this returns always parses.
    Line breaks come back as ``\n`` (``lines.normalize``).
    """
    source = normalize(source)
    visual = describe(source)
    if visual.diagnostics:
        raise VisualEditError("", "the sheet has syntax errors; fix them in the advanced editor")
    replacements = []
    for slot_id, value in edits.items():
        slot = visual.slots.get(slot_id)
        if slot is None:
            raise VisualEditError(slot_id, "no such value in this sheet")
        rendered = _render(slot, value)
        if _parsed(slot, value) == slot.value:
            continue  # the same value: its text stays exactly as written
        replacements.append((slot.start, slot.end, rendered, slot_id))
    pieces = []  # joined once: a form may change a thousand values of a long sheet
    placed = []  # (start, end) of each new value in the edited text, and its slot
    position = length = 0
    for start, end, new, slot_id in sorted(replacements):
        pieces += [source[position:start], new]
        length += start - position
        placed.append((length, length + len(new), slot_id))
        length += len(new)
        position = end
    pieces.append(source[position:])
    edited = "".join(pieces)
    if replacements:
        _, diagnostics = parse(edited)
        if diagnostics:
            raise _unparsable(edited, placed, diagnostics[0])
    return edited


def _unparsable(
    edited: str, placed: list[tuple[int, int, str]], diagnostic: Diagnostic
) -> VisualEditError:
    """The refusal of edits that leave a sheet the parser refuses: it names the slot
    whose new value the parser stopped in (or the last one before that place, as the
    fault may show only after the value), the line the value is on and the parser's
    reason."""
    offset = LineTable(edited).offsets(diagnostic.span)[0]
    before = [entry for entry in placed if entry[0] <= offset] or placed[:1]
    start, _, slot_id = before[-1]
    line = edited.count("\n", 0, start) + 1
    return VisualEditError(
        slot_id,
        f"the value on line {line} cannot go here: the sheet would not parse with it "
        f"({diagnostic.message})",
        diagnostic,
    )


def _parsed(slot: Slot, value: object) -> object:
    """The value an (already validated) edit stands for, comparable with ``slot.value``."""
    # The ignores below: _render has checked value is a str (a list of str for a LIST).
    if slot.kind == BOOLEAN:
        return value == "true"
    if slot.kind == LIST:
        kind = slot.item_kind
        return tuple(Decimal(item.strip()) if kind == NUMBER else item for item in value)  # type: ignore[attr-defined]
    if slot.kind == NUMBER:
        return Decimal(value.strip())  # type: ignore[attr-defined]
    if slot.kind == REASON:
        return value.strip()  # type: ignore[attr-defined]
    return value


def _render(slot: Slot, value: object) -> str:
    if slot.kind == LIST:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise VisualEditError(slot.id, "a list of values is needed")
        if not value:
            raise VisualEditError(slot.id, "a list needs at least one value")
        kind = slot.item_kind or STRING
        return ", ".join(_render_scalar(slot.id, kind, item) for item in value)
    if slot.kind == BOOLEAN:
        if value not in ("true", "false"):
            raise VisualEditError(slot.id, "choose true or false")
        return str(value)
    if slot.kind == REASON:
        if not isinstance(value, str) or not _CODE.fullmatch(value.strip()):
            raise VisualEditError(
                slot.id,
                "a reason code is letters, digits and underscores, starting with a letter",
            )
        return format_literal(value.strip())
    return _render_scalar(slot.id, NUMBER if slot.kind == NUMBER else STRING, value)


def _render_scalar(slot_id: str, kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise VisualEditError(slot_id, "a text value is needed")
    if kind == NUMBER:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise VisualEditError(slot_id, f"{value!r} is not a number")
        return format_literal(number)
    if "\n" in value or "\r" in value:
        raise VisualEditError(slot_id, "a text here is a single line")
    return format_literal(value)


# --- Building the sections ------------------------------------------------------------


class _Builder:
    def __init__(self, text: LineTable) -> None:
        self.text = text
        self.sections = [Section("Header", None)]
        self.slots: list[Slot] = []
        self.by_id: dict[str, Slot] = {}
        self._pending: list[tuple[int, str, list[object]]] = []  # rows with slot placeholders

    # Slots get their IDs once all are known (source order), so rows hold
    # placeholders until then.
    def _slot(self, kind: str, value: object, start: int, end: int, **extra: object) -> Slot:
        slot = Slot("", kind, value, start, end, **extra)  # type: ignore[arg-type]
        self.slots.append(slot)
        return slot

    def number_slots(self) -> None:
        renamed = {}
        for number, slot in enumerate(sorted(self.slots, key=lambda s: s.start), start=1):
            named = Slot(f"s{number}", *_fields(slot)[1:])
            renamed[id(slot)] = named
            self.by_id[named.id] = named
        for section in self.sections:
            section.rows = [
                Row(
                    row.line,
                    row.kind,
                    tuple(
                        Segment(s.text, s.code, renamed[id(s.slot)]) if s.slot else s
                        for s in row.segments
                    ),
                    row.comment,
                )
                for row in section.rows
            ]

    def place_comments(self, comments: tuple[nodes.Comment, ...]) -> None:
        """Each comment in the section it is written in, none lost.

        A comment at the end of a line goes with the statement on that line (on a
        statement's continuation line too), or with the scope whose ``scope`` line it
        ends. A comment on a line of its own is in the section whose lines hold it,
        before the first statement below it there, or at the section's end; except
        that comment lines directly above a ``scope`` line (no blank line between)
        head that scope. Rows and comments are found by bisection: a sheet may have
        thousands of each.
        """
        scopes = self.sections[1:]
        scope_lines = [section.line or 0 for section in scopes]
        by_scope_line = {section.line: section for section in scopes}
        own_lines = {c.line for c in comments if not c.trailing}
        heading: dict[int, int] = {}  # a comment line directly above a scope -> its section
        for index, line in enumerate(scope_lines, start=1):
            above = line - 1
            while above in own_lines and above not in heading:
                heading[above] = index
                above -= 1
        starts = [[row.line for row in section.rows] for section in self.sections]
        ordered = [
            (row.line, s, r)
            for s, section in enumerate(self.sections)
            for r, row in enumerate(section.rows)
        ]
        ordered.sort()
        all_lines = [line for line, _, _ in ordered]
        trailing: dict[tuple[int, int], list[str]] = {}
        before: dict[tuple[int, int], list[Row]] = {}
        at_end: dict[int, list[Row]] = {}
        for comment in comments:
            if comment.trailing:
                scope = by_scope_line.get(comment.line)
                if scope is not None:
                    scope.comment = comment.text
                    continue
                # The statement the line belongs to: the last one starting at or above it.
                found = bisect_right(all_lines, comment.line) - 1
                if found >= 0:
                    _, s, r = ordered[found]
                    trailing.setdefault((s, r), []).append(comment.text)
                continue
            row = Row(comment.line, "comment", (Segment(comment.text),))
            s = heading.get(comment.line, bisect_right(scope_lines, comment.line))
            position = bisect_right(starts[s], comment.line)
            if position < len(starts[s]):
                before.setdefault((s, position), []).append(row)
            else:
                at_end.setdefault(s, []).append(row)
        for s, section in enumerate(self.sections):
            placed: list[Row] = []
            for r, row in enumerate(section.rows):
                placed.extend(before.get((s, r), ()))
                texts = trailing.get((s, r))
                placed.append(
                    Row(row.line, row.kind, row.segments, " ".join(texts)) if texts else row
                )
            placed.extend(at_end.get(s, ()))
            section.rows = placed

    def add(self, line: int, kind: str, segments: list[Segment]) -> None:
        self.sections[-1].rows.append(Row(line, kind, tuple(segments)))

    def statement(self, statement: nodes.Statement) -> None:
        line = statement.span.line
        words = _Words(self)
        match statement:
            case nodes.Scope(name=name):
                self.sections.append(Section(f"Scope {name}", name, line=line))
            case nodes.Fulfillment(name=name):
                words.plain("Fulfillment identifier ").code(name)
                words.plain(" (change it in the advanced editor)")
                self.add(line, "fulfillment", words.segments)
            case nodes.Action(name=name):
                words.plain("Action ").code(name)
                self.add(line, "action", words.segments)
            case nodes.Option(name=name, value=value):
                words.plain("Option ").code(name).plain(" is ")
                if isinstance(value, nodes.Boolean):
                    start, end = self.text.offsets(value.span)
                    words.slot(self._slot(BOOLEAN, value.value, start, end))
                else:
                    words.expression(value, top=True)
                self.add(line, "option", words.segments)
            case nodes.Require():
                self._require(statement, words)
                self.add(line, "require", words.segments)
            case nodes.With(name=name, value=value):
                words.plain("Let ").code(name).plain(" be ").expression(value, top=True)
                self.add(line, "with", words.segments)
            case nodes.Data(name=name, value=value):
                words.plain("Set data ").code(name).plain(" to ").expression(value, top=True)
                self.add(line, "data", words.segments)
            case nodes.ScoreAdd(value=value, when=when):
                words.plain("Add ").expression(value, top=True).plain(" to the score")
                if when is not None:
                    words.plain(" when ").expression(when)
                self.add(line, "score", words.segments)
            case nodes.Fanout(value=value):
                words.plain("Fan out to ").expression(value, top=True).plain(" more OUs")
                self.add(line, "fanout", words.segments)

    def _require(self, statement: nodes.Require, words: _Words) -> None:
        words.plain("Require ").expression(statement.condition)
        if statement.applies_when is not None:
            words.plain(" when ").expression(statement.applies_when)
        words.plain(", else reject")
        reason = statement.reason
        if reason is not None:
            start, end = self.text.offsets(reason.span)
            found = _REASON_CODE.search(self.text.text, start, end)
            words.plain(" with reason ")
            if found is not None:
                words.slot(self._slot(REASON, reason.code, found.start(1), found.end(1)))
            else:  # pragma: no cover - the parser only makes reasons from this shape
                words.code(reason.code)
            description = reason.description
            if isinstance(description, nodes.String):
                d_start, d_end = self.text.offsets(description.span)
                words.plain(": ").slot(self._slot(DESCRIPTION, description.value, d_start, d_end))
            elif description is not None:
                words.plain(": ").source(description)
        if statement.reason_when is not None:
            words.plain(" (the reason only when ").expression(statement.reason_when).plain(")")
        if statement.but_continue:
            words.plain(", but continue with the next lines")


def _fields(slot: Slot) -> tuple[str, str, object, int, int, str | None, str | None]:
    return (
        slot.id,
        slot.kind,
        slot.value,
        slot.start,
        slot.end,
        slot.item_kind,
        slot.picker,
    )


class _Words:
    """Builds a row's segments: words, code as written, slots inside code."""

    def __init__(self, builder: _Builder) -> None:
        self.builder = builder
        self.segments: list[Segment] = []

    def plain(self, text: str) -> _Words:
        self.segments.append(Segment(text))
        return self

    def code(self, text: str) -> _Words:
        self.segments.append(Segment(text, code=True))
        return self

    def slot(self, slot: Slot) -> _Words:
        self.segments.append(Segment(slot=slot))
        return self

    def source(self, expr: nodes.Expr) -> _Words:
        start, end = self.builder.text.offsets(expr.span)
        return self.code(self.builder.text.text[start:end])

    def expression(self, expr: nodes.Expr, *, top: bool = False) -> _Words:
        """The expression as written, its literals (and lists of them) as slots."""
        start, end = self.builder.text.offsets(expr.span)
        found = sorted(self._slots(expr, top=top), key=lambda slot: slot.start)
        position = start
        for slot in found:
            if slot.start > position:
                self.code(self.builder.text.text[position : slot.start])
            self.slot(slot)
            position = slot.end
        if position < end:
            self.code(self.builder.text.text[position:end])
        return self

    def _slots(self, expr: nodes.Expr, *, top: bool = False) -> Iterator[Slot]:
        builder = self.builder
        offsets = builder.text.offsets
        if top and isinstance(expr, nodes.ListExpr):
            listed = _literal_list(expr.items)
            if listed is not None:
                start, end = offsets(expr.span)
                yield builder._slot(LIST, listed[1], start, end, item_kind=listed[0])
                return
        match expr:
            case nodes.String(value=value):
                yield builder._slot(STRING, value, *offsets(expr.span))
            case nodes.Number(value=value):
                yield builder._slot(NUMBER, value, *offsets(expr.span))
            case nodes.Binary(operator=operator, left=left, right=right) if operator in _MEMBERSHIP:
                items = right.items if isinstance(right, nodes.ListExpr) else (right,)
                listed = _literal_list(items)
                if listed is None:
                    yield from self._slots(left)
                    yield from self._slots(right)
                    return
                picker = _picker(left, listed[0])
                yield from self._slots(left)
                start, end = offsets(right.span)
                yield builder._slot(LIST, listed[1], start, end, item_kind=listed[0], picker=picker)
            case nodes.Binary(left=left, right=right):
                yield from self._slots(left)
                yield from self._slots(right)
            case nodes.Unary(operand=operand) | nodes.HasValue(operand=operand):
                yield from self._slots(operand)
            case nodes.ListExpr(items=items):
                for item in items:
                    yield from self._slots(item)
            case nodes.Match(branches=branches, otherwise=otherwise):
                for branch in branches:
                    yield from self._slots(branch.condition)
                    yield from self._slots(branch.value)
                if otherwise is not None:
                    yield from self._slots(otherwise)
            case _:
                return  # variables, templates, booleans, nothing: not edited here


def _picker(left: nodes.Expr, item_kind: str) -> str | None:
    """The picker for a list of ``item_kind`` values the variable ``left`` is tested against.

    None when ``left`` is not a variable with a picker, or the picker's values are
    of another kind (ids are numbers, backend ids strings).
    """
    if not isinstance(left, nodes.Variable):
        return None
    picker = PICKERS.get(left.path)
    if picker == "id" and item_kind != NUMBER:
        return None
    if picker == "backend_id" and item_kind != STRING:
        return None
    return picker


def _literal_list(items: tuple[nodes.Expr, ...]) -> tuple[str, tuple[object, ...]] | None:
    """(item kind, values) when every item is a string, or every item a number."""
    if items and all(isinstance(item, nodes.String) for item in items):
        return STRING, tuple(item.value for item in items)  # type: ignore[attr-defined]
    if items and all(isinstance(item, nodes.Number) for item in items):
        return NUMBER, tuple(item.value for item in items)  # type: ignore[attr-defined]
    return None
