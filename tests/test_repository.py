"""The repository carries nothing of the machine it was written on."""

import re
import shutil
import subprocess
from pathlib import Path

from tests.sources import ROOT

# Made on a machine, never committed (.gitignore): skipped when git cannot say.
NOT_COMMITTED = {".git", ".venv", "node_modules", "staticfiles", "var", "build"}
# An absolute path of a developer's or a CI machine: home folders, the
# workspace of the machine this project grew on, macOS and Windows user folders.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|root|Users)/[\w.-]+|[A-Z]:\\Users\\")


def repository_files() -> list[Path]:
    """Every file committed or to be committed: tracked, or new and not ignored."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        listed = subprocess.run(
            [git, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode()
        return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]
    return [
        path
        for path in ROOT.rglob("*")
        if path.is_file()
        and not any(
            part in NOT_COMMITTED or (part.startswith(".") and part != ".ci")
            for part in path.relative_to(ROOT).parts
        )
    ]


def test_no_file_names_a_path_of_the_machine_it_was_written_on() -> None:
    found = []
    for path in repository_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # images, fonts, compressed files
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert found == []


def test_the_pattern_finds_such_paths() -> None:
    """The check above is not vacuous: it finds what it looks for."""
    slash = "/"  # spelled apart, so that this file does not name such a path itself
    for line in (
        f"({slash}work/shared/reference/004_x.txt)",
        f"see {slash}home/alice/project",
        "C:\\" + "Users\\bob\\x",
        f"{slash}root/.cache/pip",
    ):
        assert MACHINE_PATH.search(line), line
    for line in ("the ../shared/ folder", "https://example.com/home/page", "docs/work/x"):
        assert not MACHINE_PATH.search(line), line
