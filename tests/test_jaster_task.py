"""The jaster task family: names, prompt frames, sample limits, one bad dataset, llm-jp-eval's preprocessed files, and the CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import EvalkitError
from evalkit.registry import TaskOptions, build_task
from evalkit.plan import prepare_tasks
from evalkit.spec import RunSpec
from evalkit.tasks.jaster.catalog import catalog, frames
from tests.fixtures_jaster import LOCAL_DATASETS, make_jaster_data, pair, write

DISCRETE = [n for n in LOCAL_DATASETS if catalog().datasets[n].metric in ("exact_match", "exact_match_figure")]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_jaster_data(tmp_path_factory.mktemp("jaster"))


def loaded(name: str, data: Path, params: dict | None = None, **options):
    task = build_task(name, TaskOptions(data_dir=data, **options), params)
    return task, task.load()


def task_for(name: str, data: Path, params: dict | None = None, **options):
    task, loaded_data = loaded(name, data, params, **options)
    return task, loaded_data.samples


@pytest.mark.parametrize("name, datasets, chat", [
    ("jaster", LOCAL_DATASETS, False),
    ("jaster:NLI", ["jamp", "janli", "jnli", "jsem", "jsick"], False),
    ("jaster:CoLA", ["jcola-in-domain", "jcola-out-of-domain"], False),
    ("jaster:jnli", ["jnli"], False),
    ("jaster:jnli:chat", ["jnli"], True),
    ("jaster:chat", LOCAL_DATASETS, True),
])
def test_a_name_selects_datasets_and_a_profile(data, name, datasets, chat):
    task, loaded_data = loaded(name, data)
    samples = loaded_data.samples
    assert sorted({s.metadata["dataset"] for s in samples}) == sorted(datasets)
    assert {s.genre for s in samples} == {f"{catalog().datasets[d].category}/{d}" for d in datasets}
    assert len({s.id for s in samples}) == len(samples)
    assert task.build_request(samples[0], []).kind == ("chat" if chat else "completion")
    assert loaded_data.fingerprint["profile"] == ("chat" if chat else "completion")


def test_unknown_names_are_refused_with_a_suggestion():
    with pytest.raises(EvalkitError, match=r"unknown task 'jaster:jnlii'.*did you mean jaster:jnli"):
        build_task("jaster:jnlii", TaskOptions())


def test_completion_frame_instruction_shots_then_input(data):
    task, samples = task_for("jaster:jnli", data, num_fewshot=2)
    frame = frames()["completion"]["ja"]
    instruction = catalog().datasets["jnli"].instruction
    shots = samples[0].metadata["prompt"].shots
    expected = (f"{frame['preamble']}\n\n### 指示:\n{instruction}\n\n"
                + "".join(f"### 入力:\n{s.input}\n\n### 応答:\n{s.output}\n\n" for s in shots)
                + f"### 入力:\n前提：{pair(0)[0]}\n仮説：{pair(0)[1]}\n\n### 応答:\n")
    request = task.build_request(samples[0], [])
    assert request.prompt == expected and len(shots) == 2
    assert request.params.max_tokens == 3 and request.params.temperature == 0.0
    assert request.params.stop == ("\n\n###",)


def test_chat_form_puts_the_instruction_in_the_first_turn_and_shots_as_turns(data):
    task, samples = task_for("jaster:jnli:chat", data, num_fewshot=2)
    shots = samples[0].metadata["prompt"].shots
    messages = task.build_request(samples[0], []).messages
    assert [role for role, _ in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0][1] == f"{catalog().datasets['jnli'].instruction}\n\n{shots[0].input}"
    assert messages[1][1] == shots[0].output and messages[-1][1] == samples[0].turns[0]


def test_zero_shot_chat_is_one_user_turn(data):
    task, samples = task_for("jaster:jnli:chat", data, num_fewshot=0)
    assert len(task.build_request(samples[0], []).messages) == 1


def test_output_budget_per_dataset_unless_max_tokens_is_given(data):
    task, samples = task_for("jaster:FA", data)
    budgets = {s.metadata["dataset"]: task.build_request(s, []).params.max_tokens for s in samples}
    assert budgets == {"wiki_reading": 512, "wiki_ner": 256, "wiki_dependency": 512, "wiki_pas": 512, "wiki_coreference": 256}
    task, samples = task_for("jaster:FA", data, max_tokens=64)
    assert {task.build_request(s, []).params.max_tokens for s in samples} == {64}


def test_limit_keeps_the_first_samples_of_each_dataset(data):
    spec = RunSpec(tasks=["jaster"], model="dump/none", data_dir=str(data), limit=2)
    (prepared,) = prepare_tasks(spec)
    per_dataset = pd.Series([s.metadata["dataset"] for s in prepared.samples]).value_counts()
    assert set(per_dataset.index) == set(LOCAL_DATASETS) and set(per_dataset) == {2}
    _, full = task_for("jaster", data)
    assert [s.id for s in prepared.samples] == [s.id for s in full if int(s.id.rsplit("-", 1)[1]) < 2]


def test_at_most_max_samples_per_dataset(data):
    _, three = loaded("jaster:NLI", data, {"max_samples": "3"})
    assert len(three.samples) == 15 and three.fingerprint["max_samples_per_dataset"] == 3
    assert three.fingerprint["datasets"]["jamp"]["test_rows"] == 6
    _, every = loaded("jaster:NLI", data, {"max_samples": -1})
    rows = sum(info["test_rows"] for info in every.fingerprint["datasets"].values())
    assert len(every.samples) == rows > 15 and every.fingerprint["max_samples_per_dataset"] is None
    with pytest.raises(EvalkitError, match=r"-T max_samples='many': expected int"):
        task_for("jaster:jnli", data, {"max_samples": "many"})


def test_the_default_metric_can_be_swapped_per_dataset(data):
    task, swapped = loaded("jaster:jemhopqa", data, {"metrics": "jemhopqa=exact_match"})
    sample = swapped.samples[0]
    score = task.scorer.score([(sample, ["答えは" + sample.target])])[0]
    assert score.details["metric"] == "exact_match" and score.metrics == {"strict": 0.0, "lenient": 1.0}
    assert swapped.fingerprint["datasets"]["jemhopqa"]["metric"] == "exact_match"
    for bad in ("jemhopqa", "nosuch=exact_match", "jemhopqa="):
        with pytest.raises(EvalkitError, match="is not <dataset>=<metric>"):
            task_for("jaster:jemhopqa", data, {"metrics": bad})


@pytest.mark.parametrize("metric, message", [
    ("comet_wmt22", r"comet_wmt22 needs the comet package: pip install 'evalkit\[jaster-heavy\]'"),
    ("bert_score", r"bert_score needs the bert_score package"),
    ("code_exec", r"needs a sandboxed code runner"),
    ("bleurt", r"metric 'bleurt' is not implemented"),
])
def test_a_metric_that_cannot_run_here_fails_before_the_run(data, monkeypatch, metric, message):
    if metric in ("comet_wmt22", "bert_score"):
        monkeypatch.setitem(__import__("sys").modules, "comet" if metric == "comet_wmt22" else "bert_score", None)
    with pytest.raises(EvalkitError, match=message):
        task_for("jaster:jemhopqa", data, {"metrics": f"jemhopqa={metric}"})


def test_run_json_fingerprint_records_versions_hashes_and_what_was_left_out(data):
    fp = loaded("jaster", data)[1].fingerprint
    jnli = fp["datasets"]["jnli"]
    assert jnli["version"] == "yahoojapan/JGLUE@v1.1.0" and jnli["fingerprint"].startswith("sha256:")
    assert set(jnli["files"]) == {"jaster/jnli/valid-v1.1.json", "jaster/jnli/train-v1.1.json"}
    assert (jnli["category"], jnli["metric"], jnli["test_prepared"], jnli["fewshot"]) == ("NLI", "exact_match", 6, "first 4 of train")
    assert "aio" in fp["absent"] and fp["skipped"] == {}
    assert fp["datasets"]["wiki_ner"]["notes"] == ["the data folder has no train split: few-shots come from dev"]


def test_one_bad_dataset_is_skipped_in_a_collection_but_fails_when_named(tmp_path, capsys):
    make_jaster_data(tmp_path)
    write(tmp_path / "jaster/jsick/test.tsv", "not a jsick file\n")
    _, nli = loaded("jaster:NLI", tmp_path)
    assert "jsick" not in {s.metadata["dataset"] for s in nli.samples} and len({s.genre for s in nli.samples}) == 4
    assert "header lacks column" in nli.fingerprint["skipped"]["jsick"]
    assert "warning: jaster:NLI: skipped jsick:" in capsys.readouterr().err
    with pytest.raises(EvalkitError, match=r"test.tsv: header lacks column"):
        task_for("jaster:jsick", tmp_path)


def test_nothing_to_load_is_an_error(tmp_path):
    (tmp_path / "jaster").mkdir()
    with pytest.raises(EvalkitError, match=r"jaster:NLI: no dataset could be loaded \(0 failed, 5 absent\)"):
        task_for("jaster:NLI", tmp_path)


def test_llm_jp_eval_preprocessed_files_are_read_as_they_are(tmp_path, data):
    evaluation = tmp_path / "1.4.1" / "evaluation"
    test = {"instruction": "前提と仮説の関係を答えよ。", "output_length": 3, "metrics": ["exact_match"],
            "label_list": ["entailment", "contradiction", "neutral"],
            "samples": [{"input": "前提：A\n仮説：B", "output": "neutral"}, {"input": "前提：C\n仮説：D", "output": "entailment"}]}
    train = {**test, "samples": [{"input": "前提：E\n仮説：F", "output": "contradiction"}]}
    write(evaluation / "test" / "jnli.json", json.dumps(test, ensure_ascii=False))
    write(evaluation / "train" / "jnli.json", json.dumps(train, ensure_ascii=False))
    task, pre = loaded("jaster", data, {"jaster_dir": str(tmp_path / "1.4.1")}, num_fewshot=1)
    samples = pre.samples
    assert [s.metadata["dataset"] for s in samples] == ["jnli", "jnli"]
    prompt = task.build_request(samples[0], []).prompt
    assert "### 指示:\n前提と仮説の関係を答えよ。\n\n### 入力:\n前提：E\n仮説：F\n\n### 応答:\ncontradiction\n\n" in prompt
    assert prompt.endswith("### 入力:\n前提：A\n仮説：B\n\n### 応答:\n")
    assert pre.fingerprint["datasets"]["jnli"]["source"] == "llm-jp-eval evaluation files"
    assert "jamp" in pre.fingerprint["absent"]


def test_jaster_dir_parameter_reaches_the_task_and_run_json(tmp_path, data):
    evaluation = tmp_path / "pre" / "evaluation"
    test = {"instruction": "前提と仮説の関係を答えよ。", "output_length": 3, "metrics": ["exact_match"],
            "label_list": ["entailment", "contradiction", "neutral"],
            "samples": [{"input": "前提：A\n仮説：B", "output": "neutral"}]}
    write(evaluation / "test" / "jnli.json", json.dumps(test, ensure_ascii=False))
    write(evaluation / "train" / "jnli.json", json.dumps(test, ensure_ascii=False))
    replay = tmp_path / "replay.jsonl"
    replay.write_text(json.dumps({"task": "jaster:jnli", "sample_id": "jnli-0", "output": "neutral"}) + "\n")
    result = invoke("run", "--tasks", "jaster:jnli", "--model", f"replay/{replay}", "-T", f"jaster_dir={tmp_path / 'pre'}",
                    "--num-fewshot", "0", "--output-dir", tmp_path / "results", "--run-name", "pre", "--no-cache")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "results" / "pre" / "run.json").read_text())
    assert manifest["spec"]["task_params"] == {"jaster:jnli": {"jaster_dir": str((tmp_path / "pre").resolve())}}
    assert manifest["tasks"]["jaster:jnli"]["params"] == {
        "max_samples": 100, "jaster_dir": str((tmp_path / "pre").resolve()), "metrics": None}
    assert manifest["tasks"]["jaster:jnli"]["data"]["datasets"]["jnli"]["source"] == "llm-jp-eval evaluation files"
    assert result.exit_code == 0, result.stderr


# --- the CLI end to end: dump, replay gold and wrapped gold, re-score --------------------------------


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def replay_run(data: Path, tmp_path: Path, name: str, reply) -> tuple[pd.DataFrame, str]:
    """Dump every prompt, answer each with `reply(target)` through replay/, and read summary.csv as genre x metric."""
    prompts = tmp_path / "prompts.jsonl"
    assert invoke("dump", "--tasks", "jaster", "--data-dir", data, "-o", prompts).exit_code == 0
    rows = [json.loads(line) for line in prompts.read_text(encoding="utf-8").splitlines()]
    replay = tmp_path / f"{name}.jsonl"
    replay.write_text("".join(json.dumps({"task": r["task"], "sample_id": r["sample_id"], "output": reply(r["target"])},
                                         ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    result = invoke("run", "--tasks", "jaster", "--model", f"replay/{replay}", "--data-dir", data,
                    "--output-dir", tmp_path / "results", "--run-name", name, "--no-cache")
    assert result.exit_code == 0, result.stderr
    summary = pd.read_csv(tmp_path / "results" / name / "summary.csv")
    return summary.pivot_table(index="genre", columns="metric", values="value", aggfunc="first"), result.stdout


@pytest.fixture(scope="module")
def gold_run(data, tmp_path_factory) -> tuple[pd.DataFrame, str, Path]:
    tmp_path = tmp_path_factory.mktemp("gold")
    table, stdout = replay_run(data, tmp_path, "gold", lambda target: target)
    return table, stdout, tmp_path / "results" / "gold"


def test_replaying_gold_answers_scores_one_on_every_dataset(gold_run):
    table, stdout, _ = gold_run
    for name in LOCAL_DATASETS:
        genre = f"{catalog().datasets[name].category}/{name}"
        assert (table.loc[genre, "strict"], table.loc[genre, "lenient"], table.loc[genre, "format_violation"]) == (1.0, 1.0, 0.0), genre
    assert table.loc["all", "strict"] == 1.0 and table.loc["NLI", "strict"] == 1.0
    assert "AVG" in stdout and "jsquad" in stdout


def test_gold_answers_in_a_sentence_fail_strict_pass_lenient_and_count_as_violations(data, tmp_path):
    table, _ = replay_run(data, tmp_path, "wrapped", lambda target: f"答えは{target}です。")
    for name in LOCAL_DATASETS:
        genre = f"{catalog().datasets[name].category}/{name}"
        assert (table.loc[genre, "lenient"], table.loc[genre, "format_violation"]) == (1.0, 1.0), genre
        if name in DISCRETE:
            assert table.loc[genre, "strict"] == 0.0, genre
    assert table.loc["STS/jsts", "strict"] == 1.0  # llm-jp-eval reads '答えは2.4です。' as 2.4: strict, yet a violation
    categories = ["CoLA", "FA", "HE", "MC", "MR", "NLI", "QA", "RC", "STS"]
    assert table.loc["all", "strict"] == pytest.approx(sum(table.loc[c, "strict"] for c in categories) / len(categories))
    assert table.loc["NLI", "format_violation"] == 1.0


def test_a_stored_run_is_rescored_with_dataset_level_metrics(gold_run):
    run_dir = gold_run[2]
    result = invoke("score", run_dir)
    assert result.exit_code == 0, result.stderr
    summary = pd.read_csv(run_dir / "summary.csv")
    jsts = summary.query("genre == 'STS/jsts' and metric == 'strict'").iloc[0]
    assert (jsts.value, jsts.n) == (1.0, 6)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["tasks"]["jaster"]["data"]["datasets"]["jsts"]["metric"] == "pearson"
