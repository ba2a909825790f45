"""`evalkit tasks`: one short row per family, a family in full by name, text printed as it is (brackets
and all), and the one-line MeCab advice of the metrics and the contamination tokenizer."""

from __future__ import annotations

import io
import sys

import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import EvalkitError
from evalkit.registry import TaskFamily, task_families
from evalkit.roles import Task, TaskData
from evalkit.tables import ResultTable, rich_table
from evalkit.task_list import family_table, genres_cell, overview_table
from evalkit.types import Sample
from tests.fixtures_jaster import write_jnli, write_jsick, write_protocol

BRACKETED = "pip install 'evalkit[jaster-mecab]'"


def invoke(monkeypatch, *args):
    monkeypatch.setenv("COLUMNS", "80")
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def render(table: ResultTable, width: int = 80) -> str:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(rich_table(table))
    return out.getvalue()


def first_cells(stdout: str) -> dict[str, list[str]]:
    """The rows of a rich table by the first line of their first cell (the task's name)."""
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in stdout.splitlines() if line.startswith("│")]
    return {row[0]: row for row in rows if row and row[0]}


def jaster_names() -> str:
    from evalkit.tasks.jaster.catalog import catalog

    cat = catalog()
    return f"jaster, jaster:chat + {len(cat.categories)} categories, {len(cat.datasets)} datasets (each also :chat)"


# --- the short listing ---------------------------------------------------------------------------


@pytest.mark.parametrize("tasks, samples", [
    ("gsm8k, gsm8k:chat", "30"),
    ("mgsm_ja", "5"),
    ("mgsm_en", "5"),
    ("humaneval, humaneval:chat", "unavailable"),  # not in this data folder
    ("mt_bench_ja, mt_bench_ja:full", "unavailable"),
    (None, "1 of 31 datasets"),  # jaster: its folders are looked at, not loaded (mgsm's is gsm8k/)
])
def test_the_short_listing_folds_a_familys_variants_into_one_row(data_dir, tasks, samples):
    table = overview_table(list(task_families().values()), data_dir)
    rows = {row[0]: row for row in table.rows}
    assert len(rows) == len(task_families())
    assert rows[tasks or jaster_names()][2] == samples


def test_without_data_the_short_listing_counts_nothing():
    table = overview_table(list(task_families().values()), None)
    assert {row[2] for row in table.rows} == {"–"}
    assert {row[0]: row[1] for row in table.rows}["gsm8k, gsm8k:chat"] == task_families()["gsm8k"].description


def test_evalkit_tasks_prints_a_short_listing_at_80_columns(data_dir, monkeypatch):
    result = invoke(monkeypatch, "tasks", "--data-dir", data_dir)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) < 45 and max(len(line) for line in lines) <= 80  # it was ~600 lines, one row per variant
    rows = first_cells(result.stdout)
    assert rows["gsm8k, gsm8k:chat"][2] == "30" and rows["mgsm_ja"][2] == "5"
    assert rows["jaster, jaster:chat + 13"][2] == "1 of 31 datasets"
    assert "jaster:NLI" not in result.stdout and "jaster:jnli" not in result.stdout
    assert "`evalkit tasks NAME`" in result.stdout
    assert "warning" not in result.stderr  # no Jaster dataset is loaded for it


# --- a family of our own: counts that differ by variant, and brackets in its text -----------------


class Numbered(Task):
    version, scorer = "1", None

    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n

    def load(self) -> TaskData:
        return TaskData(tuple(Sample(id=str(i), turns=("q",), target="a", genre=["x", "y"][i % 2]) for i in range(self.n)),
                        {})

    def build_request(self, sample, history):
        raise NotImplementedError


@pytest.fixture
def bracketed(monkeypatch) -> TaskFamily:
    """A family whose description and variant text carry `[jaster-mecab]`, 60 samples by default and 80 in full."""
    family = TaskFamily(name="quiz", description=f"a quiz; needs {BRACKETED}",
                        build=lambda variant, options: Numbered(f"quiz:{variant}" if variant else "quiz",
                                                                80 if variant else 60),
                        variants={"": "the default [60]", "full": f"all 80, {BRACKETED}"})
    monkeypatch.setattr("evalkit.registry.task_family", lambda name: family if name == "quiz" else None)
    monkeypatch.setattr("evalkit.registry.task_families", lambda: {"quiz": family})
    return family


def test_variants_that_differ_in_size_are_counted_apart(bracketed, tmp_path):
    (row,) = overview_table([bracketed], tmp_path).rows
    assert row == ("quiz, quiz:full", f"a quiz; needs {BRACKETED}", "60, :full 80")


@pytest.mark.parametrize("args", [("tasks",), ("tasks", "quiz"), ("tasks", "quiz:full")])
def test_brackets_in_a_task_plugins_text_print_as_they_are(bracketed, tmp_path, monkeypatch, args):
    result = invoke(monkeypatch, *args, "--data-dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "evalkit[jaster-mecab]" in result.stdout and "install 'evalkit'" not in result.stdout


def test_a_family_in_full_has_every_variant_its_genres_and_counts(bracketed, tmp_path):
    table, unavailable = family_table(bracketed, tmp_path)
    assert table.columns == ("task", "genres", "samples") and unavailable == []
    assert table.rows == (("quiz\nthe default [60]", "x, y", "60"), (f"quiz:full\nall 80, {BRACKETED}", "x, y", "80"))
    assert "evalkit[jaster-mecab]" in render(table) and "the default [60]" in render(table)


@pytest.mark.parametrize("where", ["title", "column", "cell", "caption"])
def test_rich_tables_print_brackets_wherever_they_are(where):
    text = f"{where}: {BRACKETED} [bold]not bold[/bold]"
    table = ResultTable(text if where == "title" else "t", (text if where == "column" else "c", "n"),
                        ((text if where == "cell" else "x", "1"),), text if where == "caption" else "")
    drawn = "".join(render(table).split())  # a title or caption wraps at the table's width
    assert "install'evalkit[jaster-mecab]'" in drawn and "[bold]notbold[/bold]" in drawn


@pytest.mark.parametrize("genres, cell", [
    ({"math"}, "math"),
    ({"writing", "coding"}, "coding, writing"),
    ({"NLI/jnli", "NLI/jamp", "QA/niilc"}, "NLI: jamp, jnli; QA: niilc"),
    ({f"G{i % 3}/d{i}" for i in range(9)}, "9 in 3 groups: G0, G1, G2"),
    (set(), "–"),
])
def test_genres_are_shown_by_group_and_summed_up_when_many(genres, cell):
    assert genres_cell(genres) == cell


# --- jaster in full ------------------------------------------------------------------------------


def test_evalkit_tasks_jaster_shows_every_variant_counts_and_parameters(tmp_path, monkeypatch):
    write_jnli(tmp_path)
    write_jsick(tmp_path)
    write_protocol(tmp_path, ["jnli", "jsick"])
    result = invoke(monkeypatch, "tasks", "jaster", "--data-dir", tmp_path)
    assert result.exit_code == 0, result.stderr
    rows = first_cells(result.stdout)
    assert rows["jaster"][1:] == ["NLI: jnli, jsick", "12"] and rows["jaster:NLI"][1:] == ["NLI: jnli, jsick", "12"]
    assert rows["jaster:jnli"][1:] == ["NLI: jnli", "6"] and rows["jaster:jsick"][1:] == ["NLI: jsick", "6"]
    assert rows["jaster:jamp"][1:] == ["–", "unavailable"]
    # the longest names print whole at 80 columns, and every variant of the catalogue is there
    assert {"jaster:wikicorpus-e-to-j", "jaster:jcola-out-of-domain", "jaster:commonsensemoralja"} <= rows.keys()
    assert len([n for n in rows if n.partition(":")[0] == "jaster"]) == len(task_families()["jaster"].variants)
    assert any(line.startswith("unavailable: ") and "jaster:jamp" in line for line in result.stdout.splitlines())
    assert rows["max_samples"][1:4] == ["int", "100", "task"] and rows["metrics"][3] == "scoring"
    assert "tasks: jaster, jaster:chat + 13 categories" in " ".join(result.stdout.split())


# --- MeCab missing: one line, one install command ------------------------------------------------


@pytest.fixture
def without(monkeypatch):
    """Make `import NAME` fail for the modules given (as when they are not installed), sacrebleu included."""
    from evalkit.tasks.jaster import metrics

    def block(*names: str) -> None:
        for name in names:
            monkeypatch.setitem(sys.modules, name, None)
        if "MeCab" in names:  # what sacrebleu's tokenizer module holds when its `import MeCab` failed
            import sacrebleu.tokenizers.tokenizer_ja_mecab as ja_mecab

            monkeypatch.setattr(ja_mecab, "MeCab", None)

    metrics._bleu.cache_clear()
    metrics._rouge2_scorer.cache_clear()
    yield block
    metrics._bleu.cache_clear()
    metrics._rouge2_scorer.cache_clear()


def _bleu_ja():
    from evalkit.tasks.jaster.metrics import _bleu

    _bleu("ja")


def _rouge2():
    from evalkit.tasks.jaster.metrics import _rouge2_scorer

    _rouge2_scorer()


def _contamination_mecab():
    from evalkit.contamination.text import tokenizer

    tokenizer("mecab")


INSTALL = "pip install 'evalkit[jaster-mecab]'"


@pytest.mark.parametrize("use, blocked, message", [
    (_bleu_ja, ("MeCab", "ipadic"), f"bleu_ja needs MeCab (no module MeCab, ipadic): {INSTALL}"),
    (_bleu_ja, ("MeCab",), f"bleu_ja needs MeCab (no module MeCab): {INSTALL}"),
    (_rouge2, ("rouge_score", "MeCab", "ipadic"),
     f"rouge2 on Japanese needs rouge-score and MeCab (no module rouge_score, MeCab, ipadic): {INSTALL}"),
    (_contamination_mecab, ("MeCab", "ipadic"), f"tokenizer mecab needs MeCab (no module MeCab, ipadic): {INSTALL}"),
    (_contamination_mecab, ("MeCab",), f"tokenizer mecab needs MeCab (no module MeCab): {INSTALL}"),
])
def test_missing_mecab_is_one_line_with_the_one_install_command(without, use, blocked, message):
    if "ipadic" not in blocked:
        pytest.importorskip("ipadic")
    without(*blocked)
    with pytest.raises(EvalkitError) as caught:
        use()
    assert str(caught.value) == message
    assert "sacrebleu[ja]" not in str(caught.value) and "\n" not in str(caught.value)


def test_rouge2_names_only_mecab_when_rouge_score_is_there(without):
    pytest.importorskip("rouge_score")
    pytest.importorskip("ipadic")
    without("MeCab")
    with pytest.raises(EvalkitError, match=r"^rouge2 on Japanese needs rouge-score and MeCab \(no module MeCab\): "
                                           r"pip install 'evalkit\[jaster-mecab\]'$"):
        _rouge2()
