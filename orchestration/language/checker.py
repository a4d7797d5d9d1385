"""The checker: what a parsed sheet means, and every way it is wrong.

It runs when a sheet is saved (rule-engine's idea of resolving names and types
up front), so a published sheet can only fail at routing time on bad data.
Like the parser it reports every problem at once and never raises.

Checks, in the order of the sheet:
- ``fulfillment NAME`` first, then ``action``, then ``option``s, then scopes in
  their fixed order (Order, Supplier, OrderLine, OrderLineSuppliers,
  FulfillmentOptions, Shipment, Fanout, FulfillmentProposition), each at most
  once; every other statement inside a scope; ``fanout`` only in scope Fanout.
- Known scope, option and action names (case-insensitive), option values of
  the option's type, and the data each action needs (``MissingRequiredData``).
- Every variable exists (the property catalogue, or a ``with``/``data`` name
  declared above it) and is readable in the scope it is used in, with a
  did-you-mean hint; no name declared twice.
- Types where they are known: a condition must be true or false, arithmetic
  needs numbers, ``<``/``>`` need two numbers or two strings.

Warnings (``Analysis.warnings``) are not problems: the sheet is valid and runs as
written, but reads otherwise than it works. One so far: a list on the left of
``in`` (the reference's own ``[Supplier.SetNames] in 'PrintSuppliers'``), which
means "one of its items is in", is better written with ``contains``;
``Analysis.rewrites`` holds that rewrite for the formatter (``format_sheet(...,
rewrites=...)``, ``checksheet --fix``).
"""

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from . import catalogue, nodes
from .catalogue import ValueType
from .errors import Code, Diagnostic, Span
from .formatter import format_expression, format_sheet
from .parser import parse

ARITHMETIC = frozenset({"+", "-", "*", "/"})
ORDERING = frozenset({"<", ">", "<=", ">="})
EQUALITY = frozenset({"=", "<>"})
MEMBERSHIP = frozenset({"in", "not in", "contains", "not contains"})
LOGIC = frozenset({"and", "or"})
MAX_DIAGNOSTICS = 1_000
# A did-you-mean compares an unknown name with each name it could mean (the sheet's own
# and the catalogue's), up to some 30 microseconds a pair. A sheet's hints stop after
# this many comparisons (well under a second in all), so text of thousands of declared
# and unknown names cannot make a save take minutes: hinting every unknown name against
# every declared one took 17 s for 2,000 of each. A sheet of 50 names gets over 100.
MAX_HINT_COMPARISONS = 20_000
# The last word of a name written in CamelCase (Label in AmazonLabel), for a did-you-mean
# when no name is spelt close to it.
_LAST_WORD = re.compile(r"[A-Z][a-z0-9]*$")


@dataclass(frozen=True, slots=True)
class Analysis:
    """A sheet as parsed and checked: its nodes and every diagnostic, in order."""

    sheet: nodes.Sheet
    diagnostics: tuple[Diagnostic, ...]
    fulfillment: str | None = None
    action: str | None = None
    options: dict[str, object] = field(default_factory=dict)
    warnings: tuple[Diagnostic, ...] = ()
    # id() of an expression of ``sheet`` -> what the formatter may write instead.
    rewrites: dict[int, nodes.Expr] = field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        """Whether the sheet has no problem at all."""
        return not self.diagnostics


def _closest(word: str, choices: list[str]) -> str | None:
    lowered = {choice.lower(): choice for choice in choices}
    match = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


class _Checker:
    def __init__(self, sheet: nodes.Sheet) -> None:
        self.sheet = sheet
        self.diagnostics: list[Diagnostic] = []
        self.scope: str | None = None
        self.scope_index = -1
        self.declared: dict[str, tuple[int, ValueType]] = {}  # name -> (line, type)
        self.data_set: set[str] = set()
        self.fulfillment: str | None = None
        self.action: nodes.Action | None = None
        self.options: dict[str, object] = {}
        self.hint_budget = MAX_HINT_COMPARISONS  # see MAX_HINT_COMPARISONS
        self.warnings: list[Diagnostic] = []
        self.rewrites: dict[int, nodes.Expr] = {}

    def fail(self, code: Code, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, message, span, hint))

    # --- the sheet ------------------------------------------------------------

    def run(self) -> None:
        statements = self.sheet.statements
        if not statements or not isinstance(statements[0], nodes.Fulfillment):
            span = statements[0].span if statements else Span(1, 1, 1, 1)
            self.fail(
                Code.MISSING_FULFILLMENT,
                "a sheet must begin with 'fulfillment NAME', its unique identifier",
                span,
                "e.g. fulfillment ShipFromStore",
            )
        for statement in statements:
            self.statement(statement)
        if self.fulfillment is not None and self.action is None:
            first = statements[0].span
            self.fail(
                Code.INVALID_ACTION,
                "a sheet needs an 'action' after its fulfillment line",
                first,
                "one of: " + ", ".join(catalogue.ACTIONS),
            )
        self.required_data()

    def statement(self, statement: nodes.Statement) -> None:
        handler = getattr(self, f"visit_{type(statement).__name__}")
        handler(statement)

    def visit_Fulfillment(self, statement: nodes.Fulfillment) -> None:
        if self.fulfillment is not None:
            self.fail(
                Code.INVALID_SYNTAX,
                f"a sheet has one fulfillment line; this one repeats it (it is {self.fulfillment})",
                statement.span,
            )
            return
        self.fulfillment = statement.name

    def _known(
        self,
        statement: nodes.Action | nodes.Option | nodes.Scope,
        kind: str,
        names: list[str],
        code: Code,
    ) -> str | None:
        """The name if the catalogue knows it (the parser spells known names
        canonically), else report it with a did-you-mean or the choices."""
        if statement.name in names:
            return statement.name
        hint = _closest(statement.name, names)
        self.fail(
            code,
            f"unknown {kind} '{statement.name}'",
            statement.span,
            f"did you mean {hint}?" if hint else "one of: " + ", ".join(names),
        )
        return None

    def _header_order(self, statement: nodes.Statement, what: str) -> None:
        if self.scope is not None:
            self.fail(
                Code.INVALID_SCOPE_ORDER,
                f"{what} must come before the first scope",
                statement.span,
            )

    def visit_Action(self, statement: nodes.Action) -> None:
        self._header_order(statement, "the action")
        if self.action is not None:
            self.fail(
                Code.INVALID_ACTION,
                f"a sheet has one action; it already is {self.action.name}",
                statement.span,
            )
            return
        name = self._known(statement, "action", list(catalogue.ACTIONS), Code.INVALID_ACTION)
        self.action = nodes.Action(name or statement.name, statement.quoted, span=statement.span)

    def visit_Option(self, statement: nodes.Option) -> None:
        self._header_order(statement, "options")
        if self.action is None and self.scope is None:
            self.fail(
                Code.INVALID_SCOPE_ORDER,
                "options come after the action line",
                statement.span,
            )
        name = self._known(statement, "option", list(catalogue.OPTIONS), Code.INVALID_OPTION)
        if name is None:
            return
        spec = catalogue.OPTIONS[name]
        value = _literal(statement.value)
        problem = _option_problem(spec, value)
        if problem:
            self.fail(Code.INVALID_OPTION, f"option {name} {problem}", statement.value.span)
            return
        if name in self.options:
            self.fail(Code.INVALID_OPTION, f"option {name} is set twice", statement.span)
        if spec.type is ValueType.STRING_LIST and not isinstance(value, tuple):
            value = (value,)
        self.options[name] = value

    def visit_Scope(self, statement: nodes.Scope) -> None:
        name = self._known(statement, "scope", list(catalogue.SCOPES), Code.INVALID_SCOPE_TYPE)
        if name is None:
            return
        index = catalogue.SCOPES.index(name)
        if index <= self.scope_index:
            previous = catalogue.SCOPES[self.scope_index]
            problem = "appears twice" if index == self.scope_index else f"comes after {previous}"
            self.fail(
                Code.INVALID_SCOPE_ORDER,
                f"scope {name} {problem}; scopes must come in the order "
                + ", ".join(catalogue.SCOPES),
                statement.span,
            )
            return
        self.scope, self.scope_index = name, index

    def _in_scope(self, statement: nodes.Statement, keyword: str) -> bool:
        if self.scope is None:
            self.fail(
                Code.INVALID_SCOPE_ORDER,
                f"'{keyword}' must be inside a scope; add a 'scope' line above it",
                statement.span,
                "e.g. scope Supplier",
            )
            return False
        return True

    def visit_Require(self, statement: nodes.Require) -> None:
        if not self._in_scope(statement, "require"):
            return
        self.condition(statement.condition, "the requirement")
        if statement.applies_when is not None:
            self.condition(statement.applies_when, "'when'")
        if statement.reason is not None and statement.reason.description is not None:
            self.expression(statement.reason.description)
        if statement.reason_when is not None:
            self.condition(statement.reason_when, "'when'")

    def visit_With(self, statement: nodes.With) -> None:
        if not self._in_scope(statement, "with"):
            return
        value_type = self.expression(statement.value)
        self.declare(statement.name, statement.span, value_type)

    def visit_Data(self, statement: nodes.Data) -> None:
        if not self._in_scope(statement, "data"):
            return
        value_type = self.expression(statement.value)
        key = catalogue.DATA_KEYS.get(statement.name)
        same_but_case = next(
            (k for k in catalogue.DATA_KEYS if k.lower() == statement.name.lower()), None
        )
        if key is None and same_but_case is not None:
            # Custom data keys are allowed, but this one is a known key misspelt.
            self.fail(
                Code.UNKNOWN_DATA_KEY,
                f"data '{statement.name}' is not {same_but_case}: data names are case-sensitive",
                statement.span,
                f"did you mean {same_but_case}?",
            )
        if key is not None and not _compatible(key.type, value_type):
            self.fail(
                Code.INVALID_EXPRESSION_VALUE_TYPE,
                f"data {statement.name} is {_a(key.type)}, but this is {_a(value_type)}",
                statement.value.span,
            )
        self.data_set.add(statement.name)
        # A data value can be read later under its name, like a `with`.
        if statement.name not in self.declared:
            self.declared[statement.name] = (statement.span.line, value_type)

    def visit_ScoreAdd(self, statement: nodes.ScoreAdd) -> None:
        if not self._in_scope(statement, "score add"):
            return
        value_type = self.expression(statement.value)
        if not _compatible(ValueType.NUMBER, value_type):
            self.fail(
                Code.INVALID_EXPRESSION_VALUE_TYPE,
                f"a score is a number, but this is {_a(value_type)}",
                statement.value.span,
            )
        if statement.when is not None:
            self.condition(statement.when, "'when'")

    def visit_Fanout(self, statement: nodes.Fanout) -> None:
        if not self._in_scope(statement, "fanout"):
            return
        if self.scope != "Fanout":
            self.fail(
                Code.INVALID_SCOPE_TYPE,
                f"'fanout' belongs in scope Fanout, not in scope {self.scope}",
                statement.span,
            )
        value_type = self.expression(statement.value)
        if not _compatible(ValueType.NUMBER, value_type):
            self.fail(
                Code.INVALID_EXPRESSION_VALUE_TYPE,
                f"a fanout is a number of organization units, but this is {_a(value_type)}",
                statement.value.span,
            )

    def declare(self, name: str, span: Span, value_type: ValueType) -> None:
        if name in self.declared:
            line = self.declared[name][0]
            self.fail(
                Code.DUPLICATE_VARIABLE_DECLARATION,
                f"'{name}' is already declared on line {line}",
                span,
                "use another name, or change the first declaration",
            )
            return
        if catalogue.lookup(tuple(name.split("."))) is not None:
            self.fail(
                Code.DUPLICATE_VARIABLE_DECLARATION,
                f"'{name}' is a built-in variable and cannot be declared again",
                span,
            )
            return
        self.declared[name] = (span.line, value_type)

    def required_data(self) -> None:
        if self.action is None or self.action.name not in catalogue.ACTIONS:
            return
        missing = [
            key
            for key in catalogue.ACTIONS[self.action.name].required_data
            if key not in self.data_set
        ]
        if missing:
            self.fail(
                Code.MISSING_REQUIRED_DATA,
                f"action {self.action.name} needs data " + ", ".join(missing),
                self.action.span,
                f"e.g. data [{missing[0]}] as ... in scope Shipment",
            )

    # --- expressions -------------------------------------------------------------

    def condition(self, expr: nodes.Expr, what: str) -> None:
        value_type = self.expression(expr)
        if not _compatible(ValueType.BOOLEAN, value_type):
            self.fail(
                Code.INVALID_EXPRESSION_VALUE_TYPE,
                f"{what} must be true or false, but this is {_a(value_type)}",
                expr.span,
            )

    def expression(self, expr: nodes.Expr) -> ValueType:
        """Check ``expr``; return its type (``ANY`` where it cannot be known)."""
        match expr:
            case nodes.Variable():
                return self.variable(expr)
            case nodes.String():
                return ValueType.STRING
            case nodes.Template():
                return self.template(expr)
            case nodes.Number():
                return ValueType.NUMBER
            case nodes.Boolean():
                return ValueType.BOOLEAN
            case nodes.Nothing():
                return ValueType.ANY
            case nodes.ListExpr():
                for item in expr.items:
                    self.expression(item)
                return ValueType.STRING_LIST
            case nodes.HasValue():
                self.expression(expr.operand)
                return ValueType.BOOLEAN
            case nodes.Unary(operator="not"):
                self.condition(expr.operand, "'not'")
                return ValueType.BOOLEAN
            case nodes.Unary():
                self.number(expr.operand, "'-'")
                return ValueType.NUMBER
            case nodes.Binary():
                return self.binary(expr)
            case nodes.Match():
                return self.match(expr)
        return ValueType.ANY  # pragma: no cover - every node is matched above

    def template(self, expr: nodes.Template) -> ValueType:
        """Check the expressions interpolated into a template; it is a string."""
        for part in expr.parts:
            if isinstance(part, nodes.Expr):
                self.expression(part)
        return ValueType.STRING

    def match(self, expr: nodes.Match) -> ValueType:
        """Check a ``match``: its conditions, and its values' one type if they share it."""
        result: set[ValueType] = set()
        for branch in expr.branches:
            self.condition(branch.condition, "'when'")
            result.add(self.expression(branch.value))
        if expr.otherwise is not None:
            result.add(self.expression(expr.otherwise))
        result.discard(ValueType.ANY)
        return result.pop() if len(result) == 1 else ValueType.ANY

    def number(self, expr: nodes.Expr, what: str) -> None:
        value_type = self.expression(expr)
        if not _compatible(ValueType.NUMBER, value_type):
            self.fail(
                Code.INVALID_EXPRESSION_VALUE_TYPE,
                f"{what} needs a number, but this is {_a(value_type)}",
                expr.span,
            )

    def binary(self, expr: nodes.Binary) -> ValueType:
        if expr.operator in LOGIC:
            self.condition(expr.left, f"'{expr.operator}'")
            self.condition(expr.right, f"'{expr.operator}'")
            return ValueType.BOOLEAN
        left, right = self.expression(expr.left), self.expression(expr.right)
        if expr.operator in ARITHMETIC:
            if expr.operator == "+" and ValueType.STRING in (left, right):
                if not {left, right} <= {ValueType.STRING, ValueType.ANY}:
                    self._clash(expr, left, right)
                    return ValueType.ANY  # reported once, not again by what uses it
                return ValueType.STRING
            for side, side_type in ((expr.left, left), (expr.right, right)):
                if not _compatible(ValueType.NUMBER, side_type):
                    self.fail(
                        Code.INVALID_EXPRESSION_VALUE_TYPE,
                        f"'{expr.operator}' needs numbers, but this is {_a(side_type)}",
                        side.span,
                    )
            return ValueType.NUMBER
        if expr.operator in ORDERING:
            known = {left, right} - {ValueType.ANY}
            if len(known) > 1 or known & {ValueType.BOOLEAN, ValueType.STRING_LIST}:
                self._clash(expr, left, right)
        if expr.operator in ("in", "not in") and left is ValueType.STRING_LIST:
            self._list_in(expr, right)
        return ValueType.BOOLEAN

    def _list_in(self, expr: nodes.Binary, right: ValueType) -> None:
        """``[Supplier.SetNames] in 'PrintSuppliers'``: valid (one of the list's items
        is in the right side), but ``contains`` says it; rewritten when the right side
        is one value."""
        contains = "contains" if expr.operator == "in" else "not contains"
        left_text = format_expression(expr.left)
        rewrite: nodes.Expr | None = None
        if right in (ValueType.STRING, ValueType.NUMBER, ValueType.BOOLEAN):
            rewrite = nodes.Binary(contains, expr.left, expr.right, span=expr.span)
        elif isinstance(expr.right, nodes.ListExpr) and all(
            isinstance(item, nodes.String | nodes.Number | nodes.Boolean)
            for item in expr.right.items
        ):
            # in 'A', 'B': contains 'A' or contains 'B'; not in: not contains ... and ...
            join = "or" if expr.operator == "in" else "and"
            for item in expr.right.items:
                test = nodes.Binary(contains, expr.left, item, span=expr.span)
                rewrite = test if rewrite is None else nodes.Binary(join, rewrite, test)
        if rewrite is not None:
            self.rewrites[id(expr)] = rewrite
            hint = f"write {format_expression(rewrite)}"
        else:
            hint = f"write {left_text} {contains} X for one value X"
        self.warnings.append(
            Diagnostic(
                Code.LIST_IN,
                f"{left_text} is a list: '{expr.operator}' asks whether "
                + ("none" if expr.operator == "not in" else "one")
                + f" of its items is in the right side; '{contains}' says so",
                expr.span,
                hint,
            )
        )

    def _clash(self, expr: nodes.Binary, left: ValueType, right: ValueType) -> None:
        self.fail(
            Code.INVALID_EXPRESSION_VALUE_TYPE,
            f"cannot use '{expr.operator}' on {_a(left)} and {_a(right)}",
            expr.span,
        )

    def variable(self, expr: nodes.Variable) -> ValueType:
        name = expr.name
        if name in self.declared:
            return self.declared[name][1]
        prop = catalogue.lookup(expr.path)
        if prop is not None:
            if self.scope is not None and self.scope not in prop.scopes:
                where = ", ".join(s for s in catalogue.SCOPES if s in prop.scopes)
                self.fail(
                    Code.UNKNOWN_VARIABLE,
                    f"{name} cannot be read in scope {self.scope}",
                    expr.span,
                    f"it can be read in scope {where}",
                )
            return prop.type
        hint = None
        comparisons = len(self.declared) + len(catalogue.PROPERTIES)
        if comparisons <= self.hint_budget:
            self.hint_budget -= comparisons
            hint = catalogue.suggest(name, scope=self.scope, extra_names=self.declared)
            hint = hint or _same_last_word(name, self.declared)
        self.fail(
            Code.UNKNOWN_VARIABLE,
            f"unknown variable '{name}'",
            expr.span,
            f"did you mean {hint}?" if hint else None,
        )
        return ValueType.ANY


def _same_last_word(name: str, declared: dict[str, tuple[int, ValueType]]) -> str | None:
    """When no spelling is close: the one name of the sheet's own that ends in the same
    word (the reference's ``data TaskLabels as AmazonLabel`` under ``with PopupLabel``)."""
    last = _LAST_WORD.search(name)
    if "." in name or last is None or last.start() == 0:
        return None
    word = last.group()
    found = [
        other
        for other in declared
        if other != name and "." not in other and other.endswith(word) and other != word
    ]
    return found[0] if len(found) == 1 else None


def _compatible(wanted: ValueType, actual: ValueType) -> bool:
    # One string stands for a list of one (data TaskLabels as 'SFS').
    if wanted is ValueType.STRING_LIST and actual is ValueType.STRING:
        return True
    return ValueType.ANY in (wanted, actual) or wanted == actual


def _a(value_type: ValueType) -> str:
    if value_type is ValueType.ANY:
        return "a value of any type"
    text = str(value_type)
    return ("an " if text[0] in "aeiou" else "a ") + text


def _literal(expr: nodes.Expr) -> object:
    """The Python value of a literal option value, or the node itself if it is none."""
    match expr:
        case nodes.Boolean(value=value) | nodes.String(value=value) | nodes.Number(value=value):
            return value
        case nodes.ListExpr(items=items):
            return tuple(_literal(item) for item in items)
    return expr


def _option_problem(spec: catalogue.OptionSpec, value: object) -> str | None:
    if spec.type is ValueType.BOOLEAN and not isinstance(value, bool):
        return "must be true or false"
    if spec.type is ValueType.NUMBER and (
        isinstance(value, bool) or not hasattr(value, "as_integer_ratio")
    ):
        return "must be a whole number"
    if spec.type is ValueType.NUMBER:
        number = value
        if number != int(number) or number < 0:  # type: ignore[call-overload, operator]
            return "must be a whole number, 0 or more"
    if spec.type is ValueType.STRING_LIST:
        values = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(item, str) for item in values):
            return "must be a list of strings, e.g. 'Sales', 'Returns'"
        unknown = [item for item in values if spec.allowed and item not in spec.allowed]
        if unknown:
            return f"does not know {unknown[0]!r}; use " + ", ".join(repr(a) for a in spec.allowed)
    return None


def check(sheet: nodes.Sheet) -> list[Diagnostic]:
    """Every problem of a parsed sheet, in source order."""
    checker = _Checker(sheet)
    checker.run()
    return sorted(checker.diagnostics, key=lambda d: (d.span.line, d.span.column))


def analyze(source: str | bytes) -> Analysis:
    """Parse and check ``source``: the sheet, its meaning and every diagnostic."""
    sheet, diagnostics = parse(source)
    if isinstance(source, bytes) and diagnostics and not sheet.statements:
        return Analysis(sheet, tuple(diagnostics))  # not text: nothing to check
    if not sheet.statements and any(d.code is Code.TOO_LARGE for d in diagnostics):
        # Refused for its size, the sheet was not read: that it has no 'fulfillment'
        # line (said first, at line 1) would be wrong, as would anything else found.
        return Analysis(sheet, tuple(diagnostics))
    checker = _Checker(sheet)
    checker.run()
    ordered = sorted(
        [*diagnostics, *checker.diagnostics], key=lambda d: (d.span.line, d.span.column)
    )
    if len(ordered) > MAX_DIAGNOSTICS:
        # Junk text can have a problem per character; nobody reads past the first ones.
        rest = len(ordered) - MAX_DIAGNOSTICS
        last = ordered[MAX_DIAGNOSTICS - 1].span
        ordered = ordered[:MAX_DIAGNOSTICS]
        ordered.append(Diagnostic(Code.TOO_LARGE, f"{rest:,} more problems are not shown", last))
    return Analysis(
        sheet,
        tuple(ordered),
        checker.fulfillment,
        checker.action.name if checker.action else None,
        checker.options,
        tuple(checker.warnings),
        checker.rewrites,
    )


def iter_variables(expr: nodes.Expr) -> Iterator[nodes.Variable]:
    """Every variable an expression reads."""
    match expr:
        case nodes.Variable():
            yield expr
        case nodes.Template():
            for part in expr.parts:
                if isinstance(part, nodes.Expr):
                    yield from iter_variables(part)
        case nodes.ListExpr():
            for item in expr.items:
                yield from iter_variables(item)
        case nodes.Unary() | nodes.HasValue():
            yield from iter_variables(expr.operand)
        case nodes.Binary():
            yield from iter_variables(expr.left)
            yield from iter_variables(expr.right)
        case nodes.Match():
            for branch in expr.branches:
                yield from iter_variables(branch.condition)
                yield from iter_variables(branch.value)
            if expr.otherwise is not None:
                yield from iter_variables(expr.otherwise)


def fixed_source(source: str) -> str | None:
    """``source`` in its canonical form with what the checker's warnings suggest
    written instead (``Analysis.rewrites``: ``[Supplier.SetNames] in 'X'`` becomes
    ``... contains 'X'``); None if it has syntax errors."""
    if parse(source)[1]:
        return None
    analysis = analyze(source)
    return format_sheet(analysis.sheet, rewrites=analysis.rewrites)
