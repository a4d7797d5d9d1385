"""``sheet_duplicate``: a new, inactive sheet with the original's source as saved, under a
new identifier; an identifier already taken is refused and nothing is written."""

from typing import Any

import pytest
from django.contrib.auth.models import User

from orchestration.errors import ApplicationError
from orchestration.models import Sheet
from orchestration.services.sheets import sheet_create, sheet_duplicate, sheet_update
from tests.conftest import table_rows

pytestmark = pytest.mark.django_db

SOURCE = """\
# Shops near the customer
fulfillment ShipNorth # the identifier orders remember

action CANCEL

scope Supplier
require [Supplier.Type] = 'Shop' # shops only
"""


@pytest.fixture
def original(db: Any) -> Sheet:
    sheet = sheet_create(fulfillment="ShipNorth", name="Ship north", source=SOURCE, is_active=True)
    return sheet_update(sheet=sheet, source=SOURCE + "# revised\n", comment="revised")


def test_a_copy_is_inactive_with_the_same_source_naming_its_own_identifier(
    original: Sheet,
) -> None:
    designer = User.objects.create_user("designer")
    copy = sheet_duplicate(sheet=original, identifier="ShipSouth", name="Ship south", user=designer)

    copy.refresh_from_db()
    assert (copy.name, copy.fulfillment, copy.is_active, copy.revision) == (
        "Ship south",
        "ShipSouth",
        False,
        1,
    )
    # Every character as saved, but the identifier on the fulfillment line.
    assert copy.source == original.source.replace(
        "fulfillment ShipNorth #", "fulfillment ShipSouth #"
    )
    assert copy.action == "CANCEL"
    first = copy.revisions.get()
    assert (first.comment, first.author, first.is_active) == (
        f"Duplicated from Ship north (sheet {original.pk}, revision 2)",
        designer,
        False,
    )
    original.refresh_from_db()
    assert (original.fulfillment, original.revision, original.is_active) == ("ShipNorth", 2, True)


@pytest.mark.parametrize("identifier", ["ShipNorth", "Taken"])
def test_an_identifier_already_taken_is_refused_and_nothing_is_written(
    original: Sheet, identifier: str
) -> None:
    sheet_create(fulfillment="Taken", name="Taken", source="fulfillment Taken\naction CANCEL\n")
    before = table_rows()

    with pytest.raises(ApplicationError) as refused:
        sheet_duplicate(sheet=original, identifier=identifier, name="Copy", user=None)

    assert (refused.value.code, refused.value.field, refused.value.message) == (
        "unique",
        "fulfillment",
        f"A sheet with fulfillment identifier {identifier!r} already exists; "
        "choose another for the copy.",
    )
    assert table_rows() == before


def test_a_sheet_that_no_longer_checks_is_not_copied(db: Any) -> None:
    broken = Sheet.objects.create(
        fulfillment="Broken", name="Broken", source="fulfillment Broken\nrequire (\n"
    )
    before = table_rows()

    with pytest.raises(ApplicationError) as refused:
        sheet_duplicate(sheet=broken, identifier="BrokenCopy", name="Copy", user=None)

    assert refused.value.code == "invalid_sheet"
    assert table_rows() == before
