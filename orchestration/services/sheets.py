"""Sheet writes; every save is a new revision with its author and comment.

Sources are stored with every line break written ``\n`` (``language.lines``:
``\r\n`` and a lone ``\r`` become ``\n``), the text the tokenizer counts lines
and columns in, so a diagnostic's position, the visual editor's slots and the
stored text agree whatever editor or browser the sheet came from.
"""

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction

from ..errors import ApplicationError
from ..language import nodes
from ..language.checker import analyze
from ..language.lines import LineTable, normalize
from ..language.parser import parse
from ..models import Sheet, SheetRevision

REVISED_FIELDS = ("fulfillment", "name", "source", "is_active")


def sheet_diagnostics(*, fulfillment: str, source: str) -> list[dict[str, Any]]:
    """Every problem of a sheet as the editor shows it: code, message, hint, span.

    A sheet must parse and check cleanly, and its first line must name the
    same fulfillment identifier as the sheet's ``fulfillment`` field (that
    problem is reported on the ``fulfillment`` line, or line 1).
    """
    source = normalize(source)
    analysis = analyze(source)
    problems: list[dict[str, Any]] = [
        {
            "code": str(diagnostic.code),
            "message": diagnostic.message,
            "field": "source",
            "line": diagnostic.span.line,
            "column": diagnostic.span.column,
            "end_line": diagnostic.span.end_line,
            "end_column": diagnostic.span.end_column,
            "hint": diagnostic.hint,
        }
        for diagnostic in analysis.diagnostics
    ]
    if analysis.fulfillment is not None and analysis.fulfillment != fulfillment:
        problems.append(
            {
                "code": "fulfillment_mismatch",
                "message": f"The source says 'fulfillment {analysis.fulfillment}', but the "
                f"sheet's fulfillment identifier is {fulfillment!r}; they must be the same.",
                "field": "fulfillment",
                "line": None,
                "column": None,
                "end_line": None,
                "end_column": None,
                "hint": None,
            }
        )
    return problems


def sheet_warnings(*, source: str) -> list[dict[str, Any]]:
    """What the checker warns about in a sheet that is otherwise valid (never a reason
    to refuse a save), in the shape of ``sheet_diagnostics``."""
    return [
        {
            "code": str(warning.code),
            "message": warning.message,
            "field": "source",
            "line": warning.span.line,
            "column": warning.span.column,
            "end_line": warning.span.end_line,
            "end_column": warning.span.end_column,
            "hint": warning.hint,
        }
        for warning in analyze(normalize(source)).warnings
    ]


def sheet_problems(*, fulfillment: str, source: str) -> list[dict[str, Any]]:
    """Every reason the sheet cannot be saved, as API error items with positions."""
    problems = []
    for problem in sheet_diagnostics(fulfillment=fulfillment, source=source):
        if problem["line"] is None:
            problems.append({key: problem[key] for key in ("code", "message", "field")})
        else:
            position = f"line {problem['line']}, column {problem['column']}: "
            problems.append({**problem, "message": position + problem["message"]})
    return problems


def _refuse_invalid(*, fulfillment: str, source: str) -> None:
    problems = sheet_problems(fulfillment=fulfillment, source=source)
    if problems:
        raise ApplicationError(
            f"{problems[0]['field']}: {problems[0]['message']}",
            code="invalid_sheet",
            errors=problems,
        )


def _user_or_none(user: User | AnonymousUser | None) -> User | None:
    return user if user is not None and user.is_authenticated else None


def _revision_record(sheet: Sheet, *, author: User | None, comment: str) -> None:
    SheetRevision.objects.create(
        sheet=sheet,
        number=sheet.revision,
        name=sheet.name,
        fulfillment=sheet.fulfillment,
        source=sheet.source,
        is_active=sheet.is_active,
        comment=comment,
        author=author,
    )


def sheet_create(
    *,
    fulfillment: str,
    name: str,
    source: str = "",
    is_active: bool = False,
    user: User | AnonymousUser | None = None,
    comment: str = "",
) -> Sheet:
    """Create a sheet at revision 1; refuse one that does not check cleanly."""
    source = normalize(source)
    _refuse_invalid(fulfillment=fulfillment, source=source)
    author = _user_or_none(user)
    try:
        with transaction.atomic():
            sheet = Sheet.objects.create(
                fulfillment=fulfillment,
                name=name,
                source=source,
                action=analyze(source).action or "",
                is_active=is_active,
                revision=1,
                created_by=author,
                updated_by=author,
            )
            _revision_record(sheet, author=author, comment=comment or "Created")
    except IntegrityError as error:
        # Two designers creating the same identifier at once: the second is told.
        if Sheet.objects.filter(fulfillment=fulfillment).exists():
            raise ApplicationError(
                f"A sheet with fulfillment identifier {fulfillment!r} already exists.",
                code="unique",
                field="fulfillment",
            ) from error
        raise
    return sheet


def sheet_update(
    *,
    sheet: Sheet,
    user: User | AnonymousUser | None = None,
    comment: str = "",
    **changes: Any,
) -> Sheet:
    """Apply ``changes`` (any of ``REVISED_FIELDS``) as a new revision.

    A save that changes nothing makes no revision; a sheet that does not check
    cleanly is refused.
    """
    unknown = set(changes) - set(REVISED_FIELDS)
    if unknown:
        raise TypeError(f"sheet_update() got unknown fields {sorted(unknown)}")
    if "source" in changes:
        changes["source"] = normalize(changes["source"])
    author = _user_or_none(user)
    with transaction.atomic():
        # Two designers saving at once must get two revisions, not one lost.
        locked = Sheet.objects.select_for_update().get(pk=sheet.pk)
        if all(getattr(locked, field) == value for field, value in changes.items()):
            return locked
        if "source" in changes or "fulfillment" in changes:
            _refuse_invalid(
                fulfillment=changes.get("fulfillment", locked.fulfillment),
                source=changes.get("source", locked.source),
            )
        renamed = changes.get("fulfillment", locked.fulfillment)
        if renamed != locked.fulfillment:
            _refuse_taken(renamed, sheet_id=locked.pk)
        for field, value in changes.items():
            setattr(locked, field, value)
        if "source" in changes:
            locked.action = analyze(locked.source).action or ""
        locked.revision += 1
        locked.updated_by = author
        try:
            with transaction.atomic():  # a savepoint: the refusal leaves the lock usable
                locked.save()
        except IntegrityError as error:
            # Another designer took the identifier between the check and the save.
            _refuse_taken(renamed, sheet_id=locked.pk)
            raise error
        _revision_record(locked, author=author, comment=comment)
    return locked


def _refuse_taken(fulfillment: str, *, sheet_id: int) -> None:
    """Refuse an identifier another sheet has (as ``sheet_create`` does)."""
    if Sheet.objects.filter(fulfillment=fulfillment).exclude(pk=sheet_id).exists():
        raise ApplicationError(
            f"A sheet with fulfillment identifier {fulfillment!r} already exists.",
            code="unique",
            field="fulfillment",
        )


def sheet_delete(*, sheet: Sheet) -> None:
    """Delete a sheet and its revisions; fulfilments keep the sheet's name."""
    with transaction.atomic():
        sheet.delete()


def sheet_set_active(
    *, sheet: Sheet, active: bool, user: User | AnonymousUser | None = None
) -> Sheet:
    """Activate or deactivate a sheet; recorded as a revision like any other save."""
    return sheet_update(
        sheet=sheet, user=user, is_active=active, comment="Activated" if active else "Deactivated"
    )


def sheet_restore(*, sheet: Sheet, number: int, user: User | AnonymousUser | None = None) -> Sheet:
    """Make an earlier revision's name, identifier and source current, as a new revision.

    Whether the sheet is active is not restored: that stays as it is now.
    """
    try:
        old = sheet.revisions.get(number=number)
    except SheetRevision.DoesNotExist as error:
        raise ApplicationError(
            f"Sheet {sheet.pk} has no revision {number}.", code="not_found", field="revision"
        ) from error
    return sheet_update(
        sheet=sheet,
        user=user,
        comment=f"Restored revision {number}",
        name=old.name,
        fulfillment=old.fulfillment,
        source=old.source,
    )


def sheet_duplicate(
    *, sheet: Sheet, identifier: str, name: str, user: User | AnonymousUser | None = None
) -> Sheet:
    """A new, inactive sheet with ``sheet``'s source as saved, under a new fulfillment
    identifier and name: its ``fulfillment`` line names the new identifier (a sheet's
    source and identifier must agree), every other character is the original's.

    An identifier another sheet has is refused (``unique``, on ``fulfillment``), as is
    a source that no longer checks (``invalid_sheet``); either way nothing is written.
    The copy's first revision says where it came from.
    """
    with transaction.atomic():
        if Sheet.objects.filter(fulfillment=identifier).exists():
            raise ApplicationError(
                f"A sheet with fulfillment identifier {identifier!r} already exists; "
                "choose another for the copy.",
                code="unique",
                field="fulfillment",
            )
        return sheet_create(
            fulfillment=identifier,
            name=name,
            source=_with_identifier(sheet.source, identifier),
            is_active=False,
            user=user,
            comment=f"Duplicated from {sheet.name} (sheet {sheet.pk}, revision {sheet.revision})",
        )


def _with_identifier(source: str, identifier: str) -> str:
    """``source`` with its ``fulfillment`` statement naming ``identifier``; a source
    without one (or that does not parse) as it is."""
    source = normalize(source)
    parsed, _ = parse(source)
    for statement in parsed.statements:
        if isinstance(statement, nodes.Fulfillment):
            _, end = LineTable(source).offsets(statement.span)
            start = end - len(statement.name)
            return source[:start] + identifier + source[end:]
    return source
