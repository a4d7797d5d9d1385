"""``manage.py checksheet``: problems as FILE:LINE:COL: CODE message, exit status 1."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        call_command("checksheet", *args)
    except SystemExit as exit_:
        return int(exit_.code or 0), capsys.readouterr().out
    return 0, capsys.readouterr().out


def test_a_valid_sheet_prints_nothing_and_exits_0(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "ok.sheet"
    sheet.write_text("fulfillment X\naction CANCEL\n")
    assert run(str(sheet), capsys=capsys) == (0, "")


def test_problems_are_listed_with_hints_and_exit_1(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "bad.sheet"
    sheet.write_text("fulfillment X\naction CANCEL\nscope Suppliers\n")
    other = tmp_path / "also.sheet"
    other.write_bytes(b"fulfillment Y\naction CANCEL\nscope Order\nrequire '\xff'")
    status, out = run(str(sheet), str(other), capsys=capsys)
    assert status == 1
    assert out == (
        f"{sheet}:3:1: InvalidScopeType unknown scope 'Suppliers'\n"
        "    did you mean Supplier?\n"
        f"{other}:4:10: InvalidCharacter the file is not UTF-8 text (byte 0xff)\n"
    )


def test_a_missing_file_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read it"):
        call_command("checksheet", str(tmp_path / "nope.sheet"))


def test_format_prints_the_canonical_source(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "messy.sheet"
    sheet.write_text("FULFILLMENT X\nAction   CANCEL\n\n\n\nScope order // why\nREQUIRE  1=1\n")
    assert run("--format", str(sheet), capsys=capsys) == (
        0,
        "fulfillment X\naction CANCEL\n\nscope Order  // why\nrequire 1 = 1\n",
    )


def test_format_prints_a_sheet_with_problems_and_the_problems_on_stderr(
    tmp_path: Path, capsys
) -> None:
    sheet = tmp_path / "unknown.sheet"
    sheet.write_text("fulfillment X\naction CANCEL\nscope Order\nrequire  a=1\n")
    with pytest.raises(SystemExit):
        call_command("checksheet", "--format", str(sheet))
    captured = capsys.readouterr()
    assert captured.out == "fulfillment X\naction CANCEL\n\nscope Order\nrequire a = 1\n"
    assert captured.err == f"{sheet}:4:10: UnknownVariable unknown variable 'a'\n"


def test_format_does_not_print_a_sheet_that_does_not_parse(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "broken.sheet"
    sheet.write_text("fulfillment X\naction CANCEL\nscope Order\nrequire = 1\n")
    with pytest.raises(SystemExit):
        call_command("checksheet", "--format", str(sheet))
    assert capsys.readouterr().out == ""


LIST_IN = "fulfillment X\naction CANCEL\nscope Supplier\nrequire [Supplier.SetNames] in 'P'\n"


def test_a_warning_is_printed_and_the_sheet_still_passes(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "sets.sheet"
    sheet.write_text(LIST_IN)
    assert run(str(sheet), capsys=capsys) == (
        0,
        f"{sheet}:4:9: ListIn warning: [Supplier.SetNames] is a list: 'in' asks whether one "
        "of its items is in the right side; 'contains' says so\n"
        "    write [Supplier.SetNames] contains 'P'\n",
    )


def test_fix_prints_the_canonical_source_with_what_the_warnings_suggest(
    tmp_path: Path, capsys
) -> None:
    sheet = tmp_path / "sets.sheet"
    sheet.write_text(LIST_IN)
    call_command("checksheet", "--fix", str(sheet))
    captured = capsys.readouterr()
    assert captured.out == (
        "fulfillment X\naction CANCEL\n\nscope Supplier\nrequire [Supplier.SetNames] contains 'P'\n"
    )
    assert "ListIn warning:" in captured.err
    assert sheet.read_text() == LIST_IN  # printed, the file is not changed
