"""The sheet fuzzer: a slice of it runs here; the fuzzer itself is tested too.

``manage.py fuzz_sheets`` runs it at length (docs/reliability.md has the figures of a
run of a million inputs); a run of 2,000 inputs of a fixed seed is part of the suite.
"""

import os
import re
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from orchestration.engine.plan import plan_for
from orchestration.language import fuzz
from orchestration.language.checker import analyze
from orchestration.management.commands.fuzz_sheets import default_corpus

SEED = 18
SLICE = 2_000


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return fuzz.load_corpus(default_corpus())


def test_the_corpus_is_the_demo_and_reference_sheets_of_this_repository(
    corpus: list[str],
) -> None:
    root = Path(__file__).resolve().parents[2]
    demo = (root / "orchestration/demo/sheets/ShipFromStore.sheet").read_text()
    golden = (root / "tests/language/golden/01-score-unit-price.sheet").read_text()
    assert demo in corpus and golden in corpus
    assert len(corpus) >= 60


def test_a_slice_of_the_fuzzer_finds_no_crash_failure_or_hang(
    corpus: list[str], tmp_path: Path
) -> None:
    figures = fuzz.run(
        seed=SEED,
        count=SLICE,
        corpus=corpus,
        jobs=2,
        out=tmp_path,
        stages=(("plan", plan_for),),
    )
    assert (figures.inputs, figures.crashes, figures.failures, figures.hangs) == (
        SLICE,
        0,
        0,
        0,
    ), figures.faults
    assert figures.written == []


def test_a_visual_edit_past_the_nesting_limit_is_refused_and_the_promise_kept(
    corpus: list[str],
) -> None:
    """Input 103,067 of the run of a million: a value in exactly 100 parentheses, which
    the fuzzer's edit (``-12.50``, a minus more) took one level past the parser's limit.
    The visual editor wrote text the parser refused; now it refuses the edit."""
    source = fuzz.generate(SEED, 103_067, corpus)
    assert "(" * 100 + "1" + ")" * 100 in source
    assert fuzz.examine(source, (("plan", plan_for),)) == []


def test_inputs_are_made_again_from_their_seed_and_index(corpus: list[str]) -> None:
    assert fuzz.generate(SEED, 123, corpus) == fuzz.generate(SEED, 123, corpus)
    assert fuzz.generate(SEED, 123, corpus) != fuzz.generate(SEED + 1, 123, corpus)


def test_the_inputs_meet_every_variant(corpus: list[str]) -> None:
    inputs = [fuzz.generate(SEED, index, corpus) for index in range(SLICE)]

    def share(test: object) -> int:
        return sum(1 for text in inputs if test(text))  # type: ignore[operator]

    # Seed 18 meets each of them this often in its first 2,000 inputs (at least half of it).
    assert share(lambda text: "\r" in text and "\r\n" not in text) >= 97
    assert share(lambda text: "\r\n" in text) >= 120
    assert share(lambda text: "\ufeff" in text) >= 43
    assert share(lambda text: "\x00" in text) >= 15
    assert share(lambda text: any("\ud800" <= char <= "\udfff" for char in text)) >= 43
    assert share(lambda text: any(ord(char) > 0xFFFF for char in text)) >= 110
    assert share(lambda text: any(char in "\u200e\u200f\u202e\u2067" for char in text)) >= 44
    assert share(lambda text: "\u2028" in text or "\x85" in text or "\x0b" in text) >= 43
    assert share(lambda text: "((((((((((" in text or "not not not not" in text) >= 13
    assert share(lambda text: len(max(text.split("\n"), key=len, default="")) > 5_000) >= 22
    assert share(lambda text: text.count("\n") > 500) >= 4
    assert share(lambda text: re.search(r"(?:\w+\.){100}", text) is not None) >= 2
    assert share(lambda text: text.count("with count") >= 100) >= 2
    assert share(lambda text: text.count("# a note") >= 200) >= 1
    assert share(lambda text: text.startswith("fulfillment")) >= 560


def boom(source: str) -> None:
    raise KeyError("boom")


def spin(source: str) -> None:
    while True:
        pass


def die(source: str) -> None:
    os._exit(3)


def test_an_exception_escaping_a_stage_is_a_crash_with_its_traceback() -> None:
    (problem,) = fuzz.examine("fulfillment X\naction CANCEL\n", (("boom", boom),))
    assert (problem.kind, problem.stage, problem.message) == ("crash", "boom", "KeyError: 'boom'")
    assert 'raise KeyError("boom")' in problem.detail


def test_a_stage_over_the_time_limit_is_a_hang() -> None:
    began = time.process_time()
    (problem,) = fuzz.examine("fulfillment X\naction CANCEL\n", (("spin", spin),), limit=0.2)
    assert (problem.kind, problem.stage, problem.message) == (
        "hang",
        "spin",
        "over 0.2 s of CPU time",
    )
    assert time.process_time() - began < 5  # it was stopped, not left to spin


def clean_inputs(corpus: list[str], count: int) -> list[int]:
    """The first ``count`` inputs of SEED that check clean: only those reach extra stages."""
    found = []
    index = 0
    while len(found) < count:
        if analyze(fuzz.generate(SEED, index, corpus)).is_valid:
            found.append(index)
        index += 1
    return found


def test_problem_inputs_are_written_and_replayed(corpus: list[str], tmp_path: Path) -> None:
    clean = clean_inputs(corpus, 2)
    figures = fuzz.run(
        seed=SEED, count=clean[-1] + 1, corpus=corpus, out=tmp_path, stages=(("boom", boom),)
    )
    assert (figures.inputs, figures.crashes) == (clean[-1] + 1, 2)
    assert figures.written == [f"crash-{SEED}-{index}.sheet" for index in clean]
    for index in clean:
        path = tmp_path / f"crash-{SEED}-{index}.sheet"
        assert fuzz.read_input(path) == fuzz.generate(SEED, index, corpus)
        assert "crash in boom: KeyError: 'boom'" in path.with_suffix(".txt").read_text()


def test_a_worker_that_dies_is_replaced_and_its_input_counted_as_a_crash(
    corpus: list[str],
) -> None:
    clean = clean_inputs(corpus, 2)
    figures = fuzz.run(seed=SEED, count=clean[-1] + 1, corpus=corpus, stages=(("die", die),))
    assert (figures.inputs, figures.crashes) == (clean[-1] + 1, 2)
    assert dict(figures.faults) == {"crash in examine: the worker process died (exit code 3)": 2}


def test_a_stage_over_the_time_limit_in_a_worker_is_a_hang_and_the_run_goes_on(
    corpus: list[str],
) -> None:
    clean = clean_inputs(corpus, 2)
    figures = fuzz.run(
        seed=SEED, count=clean[-1] + 1, corpus=corpus, stages=(("spin", spin),), timeout=0.3
    )
    assert (figures.inputs, figures.hangs, figures.crashes) == (clean[-1] + 1, 2, 0)
    assert dict(figures.faults) == {"hang in spin: over 0.3 s of CPU time": 2}


def test_lone_surrogates_survive_writing_and_reading(tmp_path: Path) -> None:
    path = tmp_path / "input.sheet"
    path.write_bytes("a\ud800b".encode("utf-8", "surrogatepass"))
    assert fuzz.read_input(path) == "a\ud800b"


def test_the_command_prints_its_figures_and_replays_an_input(tmp_path: Path) -> None:
    out = StringIO()
    call_command(
        "fuzz_sheets", "--count", "20", "--seed", str(SEED), "--out", str(tmp_path), stdout=out
    )
    printed = out.getvalue().splitlines()
    assert printed[0].startswith(f"fuzz_sheets: seed {SEED}, inputs 0 to 19, 1 job(s), 5 s")
    assert [line.split()[0] for line in printed[1:5]] == ["inputs", "crashes", "failures", "hangs"]
    assert [line.split()[-1] for line in printed[1:5]] == ["20", "0", "0", "0"]
    path = tmp_path / "input.sheet"
    path.write_text("fulfillment X\raction CANCEL\r")
    out = StringIO()
    call_command("fuzz_sheets", "--replay", str(path), stdout=out)
    assert out.getvalue() == f"{path}: 28 characters, 0 problems\n"
