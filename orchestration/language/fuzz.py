"""The sheet fuzzer: generated and mutated sheets through everything that reads sheet text.

Every reader of sheet text promises to answer any text with diagnostics, never an
exception (the parser, the checker, the compiler) or to refuse it in words (the
visual editor). This module holds them to it:

- ``generate(seed, index, corpus)`` makes input number ``index`` of a run. Each input
  has its own ``random.Random`` seeded from ``(seed, index)``, so any input is made
  again from its two numbers, on any machine, without the inputs before it. An input
  is random text (10 %), a random sheet from the grammar (20 %) or a mutation of a
  sheet of the corpus (70 %: the demo sheets and the tests' reference sheets, see
  ``load_corpus``): tokens deleted, duplicated, swapped or replaced, lines moved or
  spliced in from another sheet, expressions replaced or wrapped, characters
  inserted. About a third also get a variant of their encoding or shape: CR or
  CRLF or mixed line breaks, a byte-order mark, NUL, lone surrogates, characters
  outside the BMP, right-to-left and zero-width marks, the separators
  ``str.splitlines`` breaks at, very long lines and names (names of thousands of
  parts too), nesting thousands deep, numbers of thousands of digits, thousands of
  statements, names and comments.
- ``examine(source)`` runs one input through check (``analyze``), compile
  (``compile_sheet``), format (``format_source``) and the visual editor
  (``describe``, ``apply_edits``), plus any extra stages given for sheets that check
  clean (the engine's plan, which stops at the check for the others).
  An exception escaping any of them is a *crash*. A broken promise is a *failure*:
  formatting twice changes the text again, the formatted text does not parse or
  means something else, a clean sheet's formatted text has problems, a visual edit
  of valid values is refused or writes text that does not parse.
- ``run(...)`` examines a range of inputs in worker processes and counts crashes,
  failures and *hangs* (one input using more than ``timeout`` seconds of CPU: its
  worker is killed and replaced). Every crashing, failing or hanging input is
  written to a folder (``<kind>-<seed>-<index>.sheet``, the text as UTF-8 with
  lone surrogates kept, and a ``.txt`` saying what went wrong) for ``replay``.

``manage.py fuzz_sheets`` is the command; the test suite runs a small slice.
Pure Python: no Django, so the engine's purity test covers it too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import signal
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import catalogue, nodes
from .checker import Analysis, analyze, check
from .compiler import compile_sheet
from .errors import Code
from .formatter import format_sheet, format_source
from .lines import LineTable, normalize
from .parser import MAX_SOURCE_LENGTH, parse
from .tokens import TokenKind, tokenize
from .visual import (
    BOOLEAN,
    DESCRIPTION,
    LIST,
    NUMBER,
    REASON,
    STRING,
    VisualEditError,
    apply_edits,
    describe,
)

# A stage that runs past the time limit is stopped by a CPU-time timer in its worker
# and counted as a hang. Python cannot stop code that never returns to the
# interpreter (a long C call), so a worker silent for this many times the limit in
# CPU time is killed too, and, since a shared machine may starve a worker for a while,
# one silent for WALL_FACTOR times that by the clock.
STAGES_PER_INPUT = 12  # calls of the readers per input, at most
WALL_FACTOR = 5
# Inputs a worker is handed at once (each is answered on its own).
BATCH = 200
# Inputs written to the folder per distinct fault (the same exception at the same place):
# a fault hit by thousands of inputs needs a few of them to be reproduced, not all.
KEPT_PER_FAULT = 5
# How many of the slowest inputs a run's figures name.
SLOWEST_KEPT = 5

Stage = tuple[str, Callable[[str], object]]


# --- Problems ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """What went wrong with one input: a crash (an exception) or a failure (a broken promise)."""

    kind: str  # "crash", "failure" or "hang"
    stage: str  # "check", "compile", "format", "visual", or an extra stage's name
    message: str
    detail: str = ""  # the traceback of a crash

    @property
    def fault(self) -> str:
        """What identifies the fault: the stage, the exception or promise, and where."""
        where = ""
        if self.detail:
            frames = [line for line in self.detail.splitlines() if line.startswith('  File "')]
            if frames:
                where = " at " + frames[-1].strip()
        return f"{self.kind} in {self.stage}: {self.message.split(':')[0]}{where}"


class _Crashed(Exception):
    """A stage raised; the problem is recorded and the input's examination ends."""


class StageTimeout(BaseException):
    """A stage used up its CPU time (raised by the timer's signal handler).

    A ``BaseException``, so that no ``except Exception`` in the code examined takes it.
    """


def _on_timer(signum: int, frame: object) -> None:
    raise StageTimeout


@dataclass(slots=True)
class _Examination:
    """One input's examination: its problems, the time limit, and each stage's time."""

    limit: float | None
    problems: list[Problem] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")  # the slowest single call: CPU s, stage

    def call(self, stage: str, function: Callable[..., Any], *args: Any) -> Any:
        began = time.process_time()
        try:
            if self.limit:
                signal.setitimer(signal.ITIMER_PROF, self.limit)
            try:
                return function(*args)
            finally:  # disarmed inside: a timer firing just as the stage ends is a hang too
                if self.limit:
                    signal.setitimer(signal.ITIMER_PROF, 0)
        except _Refused:
            raise
        except StageTimeout:
            message = f"over {self.limit:g} s of CPU time"
            self.problems.append(Problem("hang", stage, message))
            raise _Crashed from None
        except Exception as error:
            message = f"{type(error).__name__}: {str(error)[:300]}"
            self.problems.append(Problem("crash", stage, message, traceback.format_exc(limit=12)))
            raise _Crashed from error
        finally:
            spent = time.process_time() - began
            if spent > self.slowest[0]:
                self.slowest = (spent, stage)

    def fail(self, stage: str, message: str) -> None:
        """Record a broken promise of ``stage``."""
        self.problems.append(Problem("failure", stage, message))


# Values a visual edit may write into each kind of slot: what the form would send.
_EDITS: dict[str, object] = {
    STRING: "fuzz 'quoted' \\ {brace}",
    NUMBER: "-12.50",
    BOOLEAN: "true",
    REASON: "FuzzReason",
    DESCRIPTION: "A description, 'quoted'",
}


def examine(
    source: str, stages: Sequence[Stage] = (), *, limit: float | None = None
) -> list[Problem]:
    """Every crash and failure of ``source`` (an empty list: it was answered as promised).

    With ``limit``, a stage that runs longer than ``limit`` seconds of CPU time is
    stopped and is a hang (a timer signal: the main thread only).
    """
    return _examination(source, stages, limit).problems


def _examination(source: str, stages: Sequence[Stage], limit: float | None) -> _Examination:
    examination = _Examination(limit)
    if limit:
        signal.signal(signal.SIGPROF, _on_timer)
    with contextlib.suppress(_Crashed):
        _examine(source, stages, examination)
    return examination


def _examine(source: str, stages: Sequence[Stage], examination: _Examination) -> None:
    # Each stage is called as the application calls it; the promises are then checked
    # with as few parses more as can be (a parse is most of an input's time).
    _call = examination.call
    analysis = _call("check", analyze, source)
    _call("compile", compile_sheet, source)
    formatted = _call("format", format_source, source)
    if formatted is not None:
        _examine_formatted(formatted, analysis, examination)
    _examine_visual(source, examination)
    if analysis.is_valid:  # a sheet with problems stops at the check in every stage
        for name, function in stages:
            _call(name, function, source)


def _examine_formatted(formatted: str, analysis: Analysis, examination: _Examination) -> None:
    """The format promises: the formatted text parses, is stable, means the same, and
    is clean when the sheet was."""
    _call = examination.call
    reparsed, diagnostics = _call("format", parse, formatted)
    if diagnostics:
        examination.fail("format", f"the formatted text does not parse: {diagnostics[0].message}")
        return
    if _call("format", format_sheet, reparsed) != formatted:
        examination.fail("format", "formatting the formatted text changes it again")
    if _flat(reparsed.statements) != _flat(analysis.sheet.statements):
        examination.fail("format", "the formatted text means something else")
    if analysis.is_valid:
        checked = _call("format", check, reparsed)
        if checked:
            first = checked[0].message
            examination.fail("format", f"the formatted text of a clean sheet has problems: {first}")


def _examine_visual(source: str, examination: _Examination) -> None:
    """The visual editor's promises: a valid edit of one value is taken (or refused for a
    parser limit) and writes text that parses, with as many values."""
    _call = examination.call
    fail = examination.fail
    visual = _call("visual", describe, source)
    if visual.diagnostics or not visual.slots:
        return
    # One value edited per input (which one varies with the input), as a form sends it.
    slots = list(visual.slots.values())
    slot = slots[len(source) % len(slots)]
    value: object = _EDITS.get(slot.kind)
    if slot.kind == LIST:
        value = ["1", "-2.5"] if slot.item_kind == NUMBER else ["a", "b 'c'"]
    try:
        edited = _call("visual", _refusal_or_edit, source, {slot.id: value})
    except _Refused as refusal:
        # A valid value may still take the sheet past a limit of the parser (a
        # negative number inside the deepest nesting it takes): refusing it, with
        # the parser's reason, is the promise kept.
        if not refusal.too_large:
            fail("visual", f"a valid edit of a {slot.kind} was refused: {refusal.message}")
        return
    shown = _call("visual", describe, edited)
    if shown.diagnostics:
        first = shown.diagnostics[0].message
        fail("visual", f"an edited {slot.kind} does not parse: {first}")
    elif len(shown.slots) != len(visual.slots):
        fail("visual", f"an edited {slot.kind} changed the number of values")


def _flat(statements: tuple[nodes.Statement, ...]) -> list[object]:
    """The statements' meaning as a flat list: each node's type and compared fields, in
    order, spans left out (as node equality does), made without recursion: equality of
    deeply nested nodes recurses through ``__eq__`` and tuple comparison, several frames
    per level."""
    flat: list[object] = []
    stack: list[object] = [statements]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            flat.append(("tuple", len(item)))
            stack.extend(reversed(item))
        elif dataclasses.is_dataclass(item):
            flat.append(type(item).__name__)
            fields = dataclasses.fields(item)
            stack.append(tuple(getattr(item, f.name) for f in fields if f.compare))
        else:
            flat.append(item)
    return flat


class _Refused(Exception):
    """``apply_edits`` refused an edit (a failure of a valid edit, not a crash)."""

    def __init__(self, message: str, *, too_large: bool) -> None:
        super().__init__(message)
        self.message = message
        self.too_large = too_large  # the edited sheet would be past a parser's limit


def _refusal_or_edit(source: str, edits: dict[str, object]) -> str:
    try:
        return apply_edits(source, edits)
    except VisualEditError as error:
        too_large = error.diagnostic is not None and error.diagnostic.code is Code.TOO_LARGE
        raise _Refused(error.message, too_large=too_large) from error


# --- The corpus --------------------------------------------------------------------------


def load_corpus(paths: Iterable[Path]) -> list[str]:
    """Sheets from files: ``*.sheet`` as text, ``*.json`` scenarios' ``sheets[].source``.

    Folders are read for both kinds of files, in name order; missing paths are skipped.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.sheet")) + sorted(path.glob("*.json")))
        elif path.is_file():
            files.append(path)
    corpus: list[str] = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        if file.suffix == ".json":
            try:
                sheets = json.loads(text).get("sheets", [])
            except (ValueError, AttributeError):
                continue
            corpus.extend(s["source"] for s in sheets if isinstance(s.get("source"), str))
        else:
            corpus.append(text)
    return list(dict.fromkeys(corpus))


# --- Generating inputs -------------------------------------------------------------------

_WORDS = sorted(
    {
        *("fulfillment", "action", "option", "scope", "require", "with", "when", "data"),
        *("as", "fanout", "then", "else", "end", "and", "or", "not", "in", "contains"),
        *("true", "false", "nothing", "null", "has value", "has no value", "not in"),
        *("not contains", "with reason", "score add", "but continue", "reason", "value"),
        *catalogue.SCOPES,
        *catalogue.OPTIONS,
        *catalogue.ACTIONS,
        *catalogue.DATA_KEYS,
    }
)
_PATHS = sorted(
    ".".join(part if part != catalogue.WILDCARD else "Custom_1" for part in prop.path)
    for prop in catalogue.PROPERTIES
)
_OPERATORS = ("=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/")
_WORD_OPERATORS = ("and", "or", "in", "not in", "contains", "not contains")
_PUNCTUATION = ("(", ")", ",", "[", "]", "{", "}", "'", "$'", "#", "//", "\\", "\n", " ", "\t")
# Characters that have broken, or could break, something that counts characters or lines.
_ODD = (
    "\x00", "\r", "\r\n", "\ufeff", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85",
    "\u2028", "\u2029", "\u00a0", "\u3000", "\u200b", "\u200c", "\u200d", "\u2060",
    "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066",
    "\u2067", "\u2068", "\u2069", "\u061c", "\ud800", "\udfff", "\udc80", "\U0001f600",
    "\U0001d49c", "\U00010400", "\u0301", "\u0130", "\u0131", "\u00df", "\ufb01", "\u212a",
    "\u00b2", "\u0663", "\uff11", "\u2018", "\u2019", "\u201c", "\u201d", "\u05d0", "\u0627",
    "\ufffd", "\uffff", "\U0010ffff",
)  # fmt: skip
_LINE_BREAKS = ("\n", "\r", "\r\n")


def generate(seed: int, index: int, corpus: Sequence[str]) -> str:
    """Input number ``index`` of the run with ``seed``: the same text every time."""
    rng = random.Random(f"fuzz-sheets:{seed}:{index}")  # noqa: S311 - reproducible, not secret
    choice = rng.random()
    if choice < 0.10 or not corpus:
        text = _random_text(rng)
    elif choice < 0.30:
        text = _random_sheet(rng)
    else:
        text = _mutate(rng, rng.choice(corpus), corpus)
    if rng.random() < 0.35:
        text = _variant(rng, text, corpus)
    return text


def _random_text(rng: random.Random) -> str:
    pieces: list[str] = []
    for _ in range(rng.randrange(0, 80)):
        pick = rng.random()
        if pick < 0.3:
            pieces.append(rng.choice(_WORDS))
        elif pick < 0.45:
            pieces.append(rng.choice(_PATHS))
        elif pick < 0.6:
            pieces.append(rng.choice(_OPERATORS + _WORD_OPERATORS))
        elif pick < 0.75:
            pieces.append(rng.choice(_PUNCTUATION))
        elif pick < 0.85:
            pieces.append(rng.choice(_ODD))
        elif pick < 0.95:
            pieces.append(chr(rng.randrange(32, 127)))
        else:
            pieces.append(chr(rng.randrange(0, 0x110000)))
        if rng.random() < 0.5:
            pieces.append(" ")
    return "".join(pieces)


def _name(rng: random.Random) -> str:
    first = rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
    return first + "".join(rng.choice("abcXYZ019_") for _ in range(rng.randrange(0, 8)))


def _string(rng: random.Random) -> str:
    text = "".join(rng.choice("ab c'\\{}$\n") for _ in range(rng.randrange(0, 6)))
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _expression(rng: random.Random, depth: int, names: list[str]) -> str:
    """A random expression, mostly well-formed."""
    if depth <= 0 or rng.random() < 0.3:
        pick = rng.random()
        if pick < 0.3:
            path = rng.choice(names) if names and rng.random() < 0.3 else rng.choice(_PATHS)
            return f"[{path}]" if rng.random() < 0.5 else path
        if pick < 0.5:
            return _string(rng)
        if pick < 0.7:
            digits = str(rng.randrange(0, 10 ** rng.randrange(1, 12)))
            return digits + (f".{rng.randrange(0, 1000)}" if rng.random() < 0.3 else "")
        if pick < 0.85:
            return rng.choice(("true", "false", "nothing", "null"))
        inner = _expression(rng, depth - 1, names)
        return f"$'text {{{inner}}} more'"
    pick = rng.random()
    left = _expression(rng, depth - 1, names)
    if pick < 0.35:
        right = _expression(rng, depth - 1, names)
        return f"{left} {rng.choice(_OPERATORS + _WORD_OPERATORS)} {right}"
    if pick < 0.45:
        return f"not {left}"
    if pick < 0.5:
        return f"-{left}"
    if pick < 0.6:
        return f"{left} {rng.choice(('has value', 'has no value'))}"
    if pick < 0.7:
        items = ", ".join(_expression(rng, 0, names) for _ in range(rng.randrange(2, 5)))
        return f"{left} {rng.choice(('in', 'not in'))} {items}"
    if pick < 0.85:
        arms = [
            f"when {_expression(rng, depth - 1, names)} then {_expression(rng, depth - 1, names)}"
            for _ in range(rng.randrange(1, 4))
        ]
        text = " else ".join(arms)
        if rng.random() < 0.6:
            text += f" else then {_expression(rng, depth - 1, names)}"
        return text + (" end" if rng.random() < 0.5 else "")
    return f"({left})"


def _random_sheet(rng: random.Random) -> str:
    """A sheet from the grammar: mostly in order, mostly meaningful, sometimes not."""
    names: list[str] = []
    lines = [f"fulfillment {_name(rng)}", f"action {rng.choice(list(catalogue.ACTIONS))}"]
    for _ in range(rng.randrange(0, 3)):
        value = rng.choice(("true", "false", "3", "'Sales', 'Returns'", "'Sales'"))
        lines.append(f"option {rng.choice(list(catalogue.OPTIONS))} as {value}")
    scopes = sorted(rng.sample(catalogue.SCOPES, rng.randrange(1, len(catalogue.SCOPES) + 1)))
    if rng.random() < 0.2:
        rng.shuffle(scopes)
    for scope in scopes:
        lines.append("")
        lines.append(f"scope {scope}")
        for _ in range(rng.randrange(1, 6)):
            depth = rng.randrange(0, 5)
            pick = rng.random()
            if pick < 0.35:
                text = f"require {_expression(rng, depth, names)}"
                if rng.random() < 0.3:
                    text += f" when {_expression(rng, depth, names)}"
                if rng.random() < 0.5:
                    text += f" with reason '{_name(rng)}'"
                    if rng.random() < 0.5:
                        text += f", {_string(rng)}"
                if rng.random() < 0.2:
                    text += " but continue"
            elif pick < 0.55:
                name = _name(rng)
                names.append(name)
                text = f"with {name} as {_expression(rng, depth, names)}"
            elif pick < 0.7:
                key = rng.choice([*catalogue.DATA_KEYS, _name(rng)])
                text = f"data {key} as {_expression(rng, depth, names)}"
            elif pick < 0.9:
                text = f"score add {_expression(rng, depth, names)}"
                if rng.random() < 0.4:
                    text += f" when {_expression(rng, depth, names)}"
            else:
                text = f"fanout as {_expression(rng, depth, names)}"
            if rng.random() < 0.1:
                text += f"  # {_name(rng)}"
            lines.append(text)
    return rng.choice(_LINE_BREAKS).join(lines) + "\n"


def _expressions(sheet: nodes.Sheet) -> Iterator[nodes.Expr]:
    """Every expression of a parsed sheet, without recursion."""
    stack: list[object] = list(sheet.statements)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Expr):
            yield node
        match node:
            case nodes.Binary():
                stack += [node.left, node.right]
            case nodes.Unary() | nodes.HasValue():
                stack.append(node.operand)
            case nodes.ListExpr():
                stack += node.items
            case nodes.Template():
                stack += [part for part in node.parts if isinstance(part, nodes.Expr)]
            case nodes.Match():
                for branch in node.branches:
                    stack += [branch.condition, branch.value]
                if node.otherwise is not None:
                    stack.append(node.otherwise)
            case nodes.Statement():
                for name in node.__dataclass_fields__:
                    value = getattr(node, name)
                    if isinstance(value, nodes.Expr):
                        stack.append(value)
                    elif isinstance(value, nodes.Reason) and value.description is not None:
                        stack.append(value.description)


_SPANS: dict[str, list[tuple[int, int]]] = {}  # per process: corpus sheet -> its expressions


def _expression_texts(source: str) -> list[tuple[int, int]]:
    """Where each expression of a corpus sheet (normalised) is, as offsets.

    Parsed once per process and sheet: a parse per mutation would double a run's time.
    """
    found = _SPANS.get(source)
    if found is None:
        sheet, _ = parse(source)
        table = LineTable(source)
        found = [table.offsets(expr.span) for expr in _expressions(sheet) if expr.span.line]
        _SPANS[source] = found
    return found


# A number or a string: where a deeply nested expression can go without parsing.
_VALUE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])|'[^'\\\n]*'")


def _mutate(rng: random.Random, source: str, corpus: Sequence[str]) -> str:
    text = normalize(source)
    if rng.random() < 0.5:  # on the corpus sheet itself, whose expressions are known
        text = _mutate_expression(rng, text, corpus)
    for _ in range(rng.randrange(0, 4)):
        pick = rng.random()
        if pick < 0.55:
            text = _mutate_tokens(rng, text)
        elif pick < 0.8:
            text = _mutate_lines(rng, text, corpus)
        else:
            text = _mutate_characters(rng, text)
    return text


def _mutate_tokens(rng: random.Random, text: str) -> str:
    tokens, _ = tokenize(text)
    tokens = [token for token in tokens if token.kind is not TokenKind.NEWLINE]
    if not tokens:
        return text
    token = rng.choice(tokens)
    other = rng.choice(tokens)
    pick = rng.random()
    if pick < 0.25:  # delete
        return text[: token.start] + text[token.end :]
    if pick < 0.5:  # duplicate
        return text[: token.end] + " " + token.text + text[token.end :]
    if pick < 0.7 and other.start >= token.end:  # swap
        return (
            text[: token.start]
            + other.text
            + text[token.end : other.start]
            + token.text
            + text[other.end :]
        )
    replacement = rng.choice(
        (
            rng.choice(_WORDS),
            rng.choice(_PATHS),
            rng.choice(_OPERATORS + _WORD_OPERATORS),
            rng.choice(_PUNCTUATION),
            other.text,
            _string(rng),
            _name(rng),
        )
    )
    return text[: token.start] + replacement + text[token.end :]


def _mutate_lines(rng: random.Random, text: str, corpus: Sequence[str]) -> str:
    lines = text.split("\n")
    position = rng.randrange(len(lines))
    pick = rng.random()
    if pick < 0.25:
        del lines[position]
    elif pick < 0.45:
        lines.insert(position, lines[position])
    elif pick < 0.65:
        other = rng.randrange(len(lines))
        lines[position], lines[other] = lines[other], lines[position]
    else:
        donor = normalize(rng.choice(corpus)).split("\n")
        start = rng.randrange(len(donor))
        lines[position:position] = donor[start : start + rng.randrange(1, 4)]
    return "\n".join(lines)


def _mutate_expression(rng: random.Random, text: str, corpus: Sequence[str]) -> str:
    spans = _expression_texts(text)  # ``text`` is a corpus sheet, normalised
    if not spans:
        return _mutate_tokens(rng, text)
    start, end = rng.choice(spans)
    inner = text[start:end]
    pick = rng.random()
    if pick < 0.3:
        donor = normalize(rng.choice(corpus))
        donors = _expression_texts(donor)
        if donors:
            d_start, d_end = rng.choice(donors)
            replacement = donor[d_start:d_end]
        else:
            replacement = _expression(rng, 2, [])
    elif pick < 0.5:
        replacement = _expression(rng, rng.randrange(0, 4), [])
    else:
        replacement = rng.choice(
            (
                f"({inner})",
                f"not {inner}",
                f"-{inner}",
                f"when {inner} then {inner} else then {inner}",
                f"{inner} and {inner}",
                f"{inner} + {inner}",
                f"$'{{{inner}}}'",
                f"{inner}, {inner}",
                f"{inner} has no value",
                f"{inner} in {inner}, {inner}",
            )
        )
    return text[:start] + replacement + text[end:]


def _mutate_characters(rng: random.Random, text: str) -> str:
    position = rng.randrange(len(text) + 1)
    pick = rng.random()
    if pick < 0.4:
        inserted = rng.choice((*_ODD, *_PUNCTUATION, chr(rng.randrange(32, 127))))
        return text[:position] + inserted + text[position:]
    if pick < 0.7:
        return text[:position] + text[position + rng.randrange(1, 4) :]
    return text[:position] + text[position:].swapcase()


def _variant(rng: random.Random, text: str, corpus: Sequence[str]) -> str:
    # Big inputs (long lines, thousands of statements) cost a second or more each, so they
    # are a few in a thousand: enough to meet every size, few enough for a million inputs.
    pick = rng.random()
    if pick < 0.72:
        return _encoding_variant(rng, text, pick)
    return _size_variant(rng, text, corpus, pick)


def _encoding_variant(rng: random.Random, text: str, pick: float) -> str:
    """``text`` with other line breaks, a byte-order mark or odd characters (``pick`` < 0.72)."""
    if pick < 0.25:  # line breaks
        breaks = rng.choice(("\r", "\r\n", "mixed"))
        if breaks != "mixed":
            return text.replace("\n", breaks)
        first, *rest = text.split("\n")
        return first + "".join(rng.choice(_LINE_BREAKS) + part for part in rest)
    if pick < 0.37:  # what str.splitlines breaks at, where line breaks were
        odd = rng.choice(("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"))
        return "".join(char if char != "\n" or rng.random() < 0.5 else odd for char in text)
    if pick < 0.47:  # a byte-order mark, at the start or anywhere
        position = 0 if rng.random() < 0.6 else rng.randrange(len(text) + 1)
        return text[:position] + "\ufeff" + text[position:]
    # odd characters sprinkled in
    chars = list(text)
    for _ in range(rng.randrange(1, 6)):
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(_ODD))
    return "".join(chars)


def _size_variant(rng: random.Random, text: str, corpus: Sequence[str], pick: float) -> str:
    """``text`` nested, lengthened or multiplied past a limit, or re-encoded (``pick`` >= 0.72)."""
    if pick < 0.84:  # deep nesting, beyond any limit
        depth = int(10 ** rng.uniform(1.5, 4))
        opener, closer = rng.choice(
            (("(", ")"), ("not ", ""), ("- ", ""), ("when true then ", ""), ("$'{", "}'"))
        )
        expression = opener * depth + "1" + closer * depth
        values = list(_VALUE.finditer(text))
        if values:
            value = rng.choice(values)
            return text[: value.start()] + expression + text[value.end() :]
        return text + "\nscope Order\nscore add " + expression + "\n"
    if pick < 0.92:  # a number of thousands of digits
        digits = "9" * int(10 ** rng.uniform(1, 4))
        number = rng.choice((digits, "0." + digits, digits + "." + digits, "-" + digits))
        values = [value for value in _VALUE.finditer(text) if value.group()[0] != "'"]
        if values:
            value = rng.choice(values)
            return text[: value.start()] + number + text[value.end() :]
        return text + f"\nscope Order\nscore add {number}\n"
    if pick < 0.965:  # another sheet appended, or the bytes read back as another encoding
        if rng.random() < 0.5:
            return text + "\n" + rng.choice(corpus)
        encoded = text.encode("utf-8", "surrogatepass")
        return encoded.decode(rng.choice(("latin-1", "cp1252", "utf-16-le")), "replace")
    if pick < 0.975:  # a name of many parts, declared and then read misspelt or below a wildcard
        name = ".".join(
            rng.choice(("a", "Order", "x_1")) for _ in range(int(10 ** rng.uniform(1, 3.7)))
        )
        read = rng.choice((name + "x", name[:-1], "Order.CustomFields." + name))
        return text + f"\nscope Order\nwith [{name}] as 1\nrequire [{read}] = 1\n"
    if pick < 0.98:  # hundreds to thousands of names declared, each read misspelt
        count = int(10 ** rng.uniform(2, 3.3))
        return (
            "fulfillment X\naction CANCEL\nscope Order\n"
            + "".join(f"with count{i}x as {i}\n" for i in range(count))
            + "".join(f"require count{i} = 1\n" for i in range(count))
        )
    if pick < 0.985:  # thousands of statements, and twice as many comments on lines of their own
        count = int(10 ** rng.uniform(2, 3.6))
        return (
            "fulfillment X\naction CANCEL\nscope Order\n"
            + "score add 1\n" * count
            + "# a note\n" * (2 * count)
        )
    if pick < 0.993:  # a very long line: a comment, a string, a name or a number
        length = int(10 ** rng.uniform(3, 5.4))
        long = rng.choice(("# " + "x" * length, "'" + "y" * length + "'", "Z" * length))
        lines = text.split("\n")
        position = rng.randrange(len(lines))
        if long[0] == "Z":
            lines.insert(position, f"with {long} as 1")
        else:
            lines[position] += " " + long
        return "\n".join(lines)
    # Thousands of statements, up to a little over the size limit.
    lines = text.split("\n")
    line = rng.choice(lines) or "require true"
    count = int(10 ** rng.uniform(2, 3.7))
    position = rng.randrange(len(lines) + 1)
    lines[position:position] = [line] * count
    return "\n".join(lines)[: MAX_SOURCE_LENGTH + 10]


# --- Running -----------------------------------------------------------------------------


@dataclass(slots=True)
class Figures:
    """What a run found."""

    seed: int
    start: int
    inputs: int = 0
    crashes: int = 0
    failures: int = 0
    hangs: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    # The slowest inputs, all stages together: (CPU s, index), slowest first.
    slowest: list[tuple[float, int]] = field(default_factory=list)
    # The slowest single call of one stage on one input: (CPU s, stage, index).
    slowest_stage: tuple[float, str, int] = (0.0, "", -1)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    written: list[str] = field(default_factory=list)

    def add_time(self, seconds: float, index: int, stage: tuple[float, str]) -> None:
        self.cpu_seconds += seconds
        if len(self.slowest) < SLOWEST_KEPT or seconds > self.slowest[-1][0]:
            self.slowest.append((seconds, index))
            self.slowest.sort(key=lambda item: (-item[0], item[1]))
            del self.slowest[SLOWEST_KEPT:]
        if stage[0] > self.slowest_stage[0]:
            self.slowest_stage = (stage[0], stage[1], index)

    def as_json(self) -> dict[str, Any]:
        """The figures as JSON, for a summary file."""
        return {
            "seed": self.seed,
            "start": self.start,
            "inputs": self.inputs,
            "crashes": self.crashes,
            "failures": self.failures,
            "hangs": self.hangs,
            "faults": dict(self.faults.most_common()),
            "slowest": [{"cpu_seconds": round(s, 3), "index": i} for s, i in self.slowest],
            "slowest_stage": {
                "cpu_seconds": round(self.slowest_stage[0], 3),
                "stage": self.slowest_stage[1],
                "index": self.slowest_stage[2],
            },
            "cpu_seconds": round(self.cpu_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "written": self.written,
        }


def _worker(
    connection: Any, seed: int, corpus: Sequence[str], stages: Sequence[Stage], limit: float
) -> None:
    """A worker process: examines the ranges it is sent, answering each input on its own
    with its index, the CPU time it took, the CPU time of the process so far, its slowest
    stage, and its problems (and its text, when it has any)."""
    while True:
        job = connection.recv()
        if job is None:
            return
        start, stop = job
        for index in range(start, stop):
            began = time.process_time()
            try:
                source = generate(seed, index, corpus)
            except Exception as error:  # the fuzzer's own fault: shown, not hidden
                message = f"{type(error).__name__}: {error}"
                problem = Problem("crash", "generate", message, traceback.format_exc())
                now = time.process_time()
                connection.send((index, now - began, now, (0.0, ""), [problem], ""))
                continue
            examination = _examination(source, stages, limit)
            now = time.process_time()
            problems = examination.problems
            connection.send(
                (
                    index,
                    now - began,
                    now,
                    examination.slowest,
                    problems,
                    source if problems else None,
                )
            )


def _cpu_seconds(pid: int) -> float | None:
    """A process's CPU time so far (Linux), or None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Process:
    """One worker process, its pipe, and the inputs it has been given."""

    def __init__(
        self, seed: int, corpus: Sequence[str], stages: Sequence[Stage], limit: float
    ) -> None:
        context = multiprocessing.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker, args=(child, seed, corpus, stages, limit), daemon=True
        )
        self.process.start()
        child.close()
        self.pending: list[int] = []  # indexes sent and not answered yet, in order
        self.answered_at = time.perf_counter()  # when it last answered (or started)
        self.cpu_at_answer = 0.0  # its CPU time then

    def send(self, indexes: Sequence[int]) -> None:
        """Hand it ``indexes`` (sent as runs of consecutive numbers)."""
        run_start = previous = None
        for index in [*indexes, None]:
            if index is not None and previous is not None and index == previous + 1:
                previous = index
                continue
            if run_start is not None and previous is not None:
                self.connection.send((run_start, previous + 1))
            run_start = previous = index
        self.pending.extend(indexes)

    def hung(self, timeout: float) -> bool:
        """Whether it has been silent for ``STAGES_PER_INPUT`` times ``timeout`` seconds of
        CPU time (or ``WALL_FACTOR`` times that by the clock): stuck below Python."""
        most = STAGES_PER_INPUT * timeout
        silent = time.perf_counter() - self.answered_at
        if silent <= most:
            return False
        cpu = _cpu_seconds(self.process.pid or 0)
        if cpu is not None and cpu - self.cpu_at_answer > most:
            return True
        return silent > WALL_FACTOR * most

    def kill(self) -> None:
        self.process.kill()
        self.process.join()
        self.connection.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.kill()
        self.connection.close()


def run(
    *,
    seed: int,
    count: int,
    corpus: Sequence[str],
    timeout: float = 5.0,
    jobs: int = 1,
    start: int = 0,
    out: Path | None = None,
    stages: Sequence[Stage] = (),
    progress: Callable[[Figures], None] | None = None,
    progress_every: int = 10_000,
) -> Figures:
    """Examine inputs ``start`` to ``start + count`` of ``seed`` in ``jobs`` worker processes.

    Inputs are handed out in batches and each is answered on its own, so a worker that
    stays silent for more than ``timeout`` seconds of its CPU time (or ``WALL_FACTOR``
    times that by the clock) is on a hang: it is killed, its input counted as a hang,
    and a new worker takes the rest of its inputs. A worker that dies (a crash below
    Python, such as a C stack overflow) counts its input as a crash the same way.
    Problem inputs go to ``out`` (if given); ``progress`` is called every
    ``progress_every`` inputs.
    """
    figures = Figures(seed, start)
    began = time.perf_counter()
    pool = _Pool(figures, range(start, start + count), corpus, stages, timeout, jobs, out)
    next_report = progress_every
    try:
        pool.start()
        while pool.busy():
            pool.step()
            figures.wall_seconds = time.perf_counter() - began
            if progress is not None and figures.inputs >= next_report:
                next_report += progress_every
                progress(figures)
    finally:
        pool.close()
    figures.wall_seconds = time.perf_counter() - began
    return figures


class _Pool:
    """A run's worker processes: inputs handed out in batches, answers and hangs counted."""

    def __init__(
        self,
        figures: Figures,
        indexes: range,
        corpus: Sequence[str],
        stages: Sequence[Stage],
        timeout: float,
        jobs: int,
        out: Path | None,
    ) -> None:
        self.figures = figures
        self.seed = figures.seed
        self.end = indexes.stop
        self.batches = iter(range(indexes.start, indexes.stop, BATCH))
        self.corpus = corpus
        self.stages = stages
        self.timeout = timeout
        self.out = out
        self.workers = [_Process(self.seed, corpus, stages, timeout) for _ in range(max(1, jobs))]

    def start(self) -> None:
        """Two batches to each worker: a worker never waits for its next one."""
        for worker in self.workers:
            self.feed(worker)
            self.feed(worker)

    def busy(self) -> bool:
        """Whether any worker has inputs it has not answered."""
        return any(worker.pending for worker in self.workers)

    def step(self) -> None:
        """Wait up to a second for answers; take them, and replace hung workers."""
        workers = self.workers
        connections = [worker.connection for worker in workers if worker.pending]
        ready = multiprocessing.connection.wait(connections, timeout=min(1.0, self.timeout))
        for position, worker in enumerate(workers):
            if not worker.pending:
                continue
            if worker.connection in ready:
                self.receive(position, worker)
            elif worker.hung(self.timeout):
                took = f"no answer within {STAGES_PER_INPUT * self.timeout:g} s of CPU time"
                self.replace(position, Problem("hang", "examine", took))

    def receive(self, position: int, worker: _Process) -> None:
        """Take one answer of ``worker`` (or replace it, if it died)."""
        figures = self.figures
        try:
            message = worker.connection.recv()
        except (EOFError, OSError):
            code = worker.process.exitcode
            worker.process.join(timeout=5)
            code = worker.process.exitcode if code is None else code
            died = f"the worker process died (exit code {code})"
            self.replace(position, Problem("crash", "examine", died))
            return
        index, spent, cpu_now, slowest, problems, source = message
        worker.pending.remove(index)
        worker.answered_at = time.perf_counter()
        worker.cpu_at_answer = cpu_now
        figures.inputs += 1
        figures.add_time(spent, index, slowest)
        if problems:
            self.record(index, problems, source)
        if len(worker.pending) <= BATCH:
            self.feed(worker)

    def record(self, index: int, problems: list[Problem], source: str) -> None:
        """Count an input's problems; write it to ``out`` if its fault is not kept enough."""
        figures = self.figures
        for problem in problems:
            if problem.kind == "crash":
                figures.crashes += 1
            elif problem.kind == "hang":
                figures.hangs += 1
            else:
                figures.failures += 1
        first = problems[0]
        figures.faults[first.fault] += 1
        if self.out is not None and figures.faults[first.fault] <= KEPT_PER_FAULT:
            figures.written.append(_write(self.out, self.seed, index, source, problems))

    def feed(self, worker: _Process) -> None:
        """Send ``worker`` the next batch, if any is left."""
        batch = next(self.batches, None)
        if batch is not None:
            worker.send(range(batch, min(batch + BATCH, self.end)))

    def replace(self, position: int, problem: Problem) -> None:
        """Kill the worker at ``position``: its input counts ``problem``; a new worker
        takes the rest of its inputs."""
        worker = self.workers[position]
        worker.kill()
        index, rest = worker.pending[0], worker.pending[1:]
        self.figures.inputs += 1
        self.record(index, [problem], generate(self.seed, index, self.corpus))
        self.workers[position] = _Process(self.seed, self.corpus, self.stages, self.timeout)
        if rest:
            self.workers[position].send(rest)

    def close(self) -> None:
        """Close every worker."""
        for worker in self.workers:
            worker.close()


def _write(out: Path, seed: int, index: int, source: str, problems: list[Problem]) -> str:
    """Write a problem input and what went wrong; return the input's file name."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"{problems[0].kind}-{seed}-{index}"
    (out / f"{name}.sheet").write_bytes(source.encode("utf-8", "surrogatepass"))
    report = [f"seed {seed}, index {index}: {len(source):,} characters"]
    for problem in problems:
        report += [f"{problem.kind} in {problem.stage}: {problem.message}", problem.detail]
    (out / f"{name}.txt").write_text("\n".join(report), encoding="utf-8")
    return f"{name}.sheet"


def read_input(path: Path) -> str:
    """A written input back as text (lone surrogates included)."""
    return path.read_bytes().decode("utf-8", "surrogatepass")
