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
from tests.fixtures_jaster import (
    FRAME,
    LOCAL_DATASETS,
    instruction_of,
    make_jaster_data,
    pair,
    write,
    write_jnli,
    write_protocol,
)

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


def test_by_default_the_protocol_frame_and_instruction_are_read_from_the_protocol_folder(data):
    task, samples = task_for("jaster:jnli", data, num_fewshot=2)
    shots = samples[0].metadata["prompt"].shots
    expected = (f"[frame] {instruction_of('jnli')}"
                + "".join(f"\n<in>\n{s.input}\n<out>\n{s.output}" for s in shots)
                + f"\n<in>\n前提：{pair(0)[0]}\n仮説：{pair(0)[1]}\n<out>\n")
    request = task.build_request(samples[0], [])
    assert request.prompt == expected and len(shots) == 2
    # the protocol's output length (the fixture's is the catalogue's + 1), greedy
    assert request.params.max_tokens == 4 and request.params.temperature == 0.0
    assert request.params.stop == ("\n\n###",)
    assert task.version == "jaster-2/llm-jp-eval-1.3.0"


def test_the_evalkit_profile_uses_evalkit_wording_and_frame(data):
    task, samples = task_for("jaster:jnli", data, {"prompts": "evalkit"}, num_fewshot=2)
    frame = frames()["completion"]["ja"]
    instruction = catalog().datasets["jnli"].instruction
    shots = samples[0].metadata["prompt"].shots
    expected = (f"{frame['preamble']}\n\n### 指示:\n{instruction}\n\n"
                + "".join(f"### 入力:\n{s.input}\n\n### 応答:\n{s.output}\n\n" for s in shots)
                + f"### 入力:\n前提：{pair(0)[0]}\n仮説：{pair(0)[1]}\n\n### 応答:\n")
    request = task.build_request(samples[0], [])
    assert request.prompt == expected and request.params.max_tokens == 3
    assert task.version == "jaster-2/evalkit"


def test_without_protocol_files_one_line_says_where_they_are_looked_for(tmp_path):
    (tmp_path / "jaster").mkdir()
    write_jnli(tmp_path)
    with pytest.raises(EvalkitError, match=r"jaster follows llm-jp-eval-1.3.0.*looked for .*jaster/llm-jp-eval-1.3.0/"
                                           r"prompt_frame.json.*-T prompts=evalkit"):
        task_for("jaster:jnli", tmp_path)
    assert task_for("jaster:jnli", tmp_path, {"prompts": "evalkit"})[1]


@pytest.mark.parametrize("frame, message", [
    ({"head": "{instruction}", "shot": "{input}{output}"}, "string 'head', 'shot' and 'query'"),
    ({"head": "{instructions}", "shot": "{input}{output}", "query": "{input}"}, "asks for a field it is not given"),
    ({"head": "{instruction}", "shot": "{input}{output}", "query": "{input} {0}"}, "asks for a field it is not given"),
    ("not an object", "string 'head', 'shot' and 'query'"),
])
def test_a_bad_prompt_frame_is_one_line_before_the_run(tmp_path, frame, message):
    write_jnli(tmp_path)
    write_protocol(tmp_path, ["jnli"], frame=frame)
    with pytest.raises(EvalkitError, match=message):
        task_for("jaster:jnli", tmp_path)


def test_a_dataset_without_a_protocol_instruction_is_skipped_in_a_collection(tmp_path, capsys):
    make_jaster_data(tmp_path)
    (tmp_path / "jaster/llm-jp-eval-1.3.0/evaluation/test/jsick.json").unlink()
    _, nli = loaded("jaster:NLI", tmp_path)
    assert "jsick" in nli.fingerprint["skipped"] and "-T prompts=evalkit" in nli.fingerprint["skipped"]["jsick"]
    with pytest.raises(EvalkitError, match=r"jaster:jsick: llm-jp-eval's instruction for it is not in"):
        task_for("jaster:jsick", tmp_path)


def test_protocol_dir_parameter_and_run_json_record_the_texts_source(tmp_path, data):
    other = write_protocol(tmp_path, ["jnli"], folder="mine", frame={**FRAME, "head": "[mine] {instruction}"})
    task, pre = loaded("jaster:jnli", data, {"protocol_dir": str(other)}, num_fewshot=0)
    assert task.build_request(pre.samples[0], []).prompt.startswith(f"[mine] {instruction_of('jnli')}\n<in>\n")
    info = pre.fingerprint["prompts"]
    assert info["name"] == "llm-jp-eval-1.3.0" and info["frame"] == "fixture frame"
    assert info["frame_file"] == str(other / "prompt_frame.json") and len(info["frame_sha256"]) == 64


def test_chat_form_puts_the_instruction_in_the_first_turn_and_shots_as_turns(data):
    task, samples = task_for("jaster:jnli:chat", data, num_fewshot=2)
    shots = samples[0].metadata["prompt"].shots
    messages = task.build_request(samples[0], []).messages
    assert [role for role, _ in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[0][1] == f"{instruction_of('jnli')}\n\n{shots[0].input}"  # the protocol's instruction, as in completion
    assert messages[1][1] == shots[0].output and messages[-1][1] == samples[0].turns[0]


def test_zero_shot_chat_is_one_user_turn(data):
    task, samples = task_for("jaster:jnli:chat", data, num_fewshot=0)
    assert len(task.build_request(samples[0], []).messages) == 1


def test_output_budget_per_dataset_unless_max_tokens_is_given(data):
    task, samples = task_for("jaster:FA", data)
    budgets = {s.metadata["dataset"]: task.build_request(s, []).params.max_tokens for s in samples}
    assert budgets == {"wiki_reading": 513, "wiki_ner": 257, "wiki_dependency": 513, "wiki_pas": 513, "wiki_coreference": 257}
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


def test_departures_from_llm_jp_eval_are_said_under_the_table(data, gold_run, tmp_path):
    _, stdout, run_dir = gold_run
    wiki = ("wiki_reading, wiki_ner, wiki_dependency, wiki_pas, wiki_coreference: the data folder has no train "
            "split: few-shots come from dev")
    jmmlu = ("jmmlu: 2 of 53 subjects in the data folder, so the split and order are not llm-jp-eval's; missing: "
             "econometrics, human_aging, high_school_psychology and 48 more")
    assert loaded("jaster", data)[1].notes == (wiki, jmmlu)
    assert wiki in " ".join(stdout.split()) and jmmlu in " ".join(stdout.split())
    assert json.loads((run_dir / "run.json").read_text())["tasks"]["jaster"]["notes"] == [wiki, jmmlu]
    without_jnli_train = make_jaster_data(tmp_path)
    (without_jnli_train / "jaster/jnli/train-v1.1.json").unlink()
    write_jnli(without_jnli_train, with_train=False, n_valid=40)
    (without_jnli_train / "jaster/jsick/test.tsv").write_text("not a jsick file\n")
    notes = loaded("jaster", without_jnli_train)[1].notes
    assert notes[0].startswith("jnli: train-v1.1.json is not in the data folder: few-shots are the last")
    assert notes[-1] == "left out jsick (run.json's data.skipped says why)"


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
    task, pre = loaded("jaster", data, {"jaster_dir": str(tmp_path)}, num_fewshot=1)
    samples = pre.samples
    assert [s.metadata["dataset"] for s in samples] == ["jnli", "jnli"]
    prompt = task.build_request(samples[0], []).prompt
    # the instruction is the file's own; the frame is the data folder's protocol frame
    assert prompt == "[frame] 前提と仮説の関係を答えよ。\n<in>\n前提：E\n仮説：F\n<out>\ncontradiction\n<in>\n前提：A\n仮説：B\n<out>\n"
    assert pre.fingerprint["datasets"]["jnli"]["source"] == "llm-jp-eval evaluation files"
    assert pre.fingerprint["jaster_dir"]["layout"] == "1.4.1/evaluation/test"
    assert "jamp" in pre.fingerprint["absent"]
    assert pre.notes == ()
    later = {**test, "answer_extract_pattern": "(?s)^(.*?)(?=\\n\\n|\\Z)", "num_few_shots": 4}
    write(evaluation / "test" / "jnli.json", json.dumps(later, ensure_ascii=False))
    _, pre = loaded("jaster", data, {"jaster_dir": str(tmp_path)}, num_fewshot=1)
    assert pre.notes == ("jnli: its file sets answer_extract_pattern, num_few_shots (a later llm-jp-eval release's); "
                         "evalkit builds prompts and reads replies as 1.3.0 does",)


@pytest.mark.parametrize("test_shots, train, expected", [
    ([], True, "first 2 of train"),  # llm-jp-eval 1.3.0 writes few_shots: []: the train file is the pool
    ([{"input": "前提：X\n仮説：Y", "output": "neutral"}] * 2, True, "first 2 of the test file's few_shots"),
    ([], False, None),
])
def test_few_shots_come_from_the_train_file_when_the_test_file_has_none(tmp_path, data, test_shots, train, expected):
    test = {"instruction": "i", "output_length": 3, "metrics": ["exact_match"], "few_shots": test_shots,
            "samples": [{"input": "前提：A\n仮説：B", "output": "neutral"}]}
    write(tmp_path / "evaluation/test/jnli.json", json.dumps(test, ensure_ascii=False))
    if train:
        shots = [{"input": f"前提：{i}\n仮説：{i}", "output": "entailment"} for i in range(3)]
        write(tmp_path / "evaluation/train/jnli.json", json.dumps({**test, "samples": shots}, ensure_ascii=False))
    if expected is None:
        with pytest.raises(EvalkitError, match=r"--num-fewshot 2 exceeds the 0 examples of its few-shot pool \(none: no "
                                               r"few_shots in the test file and no .*train/jnli.json\)"):
            loaded("jaster:jnli", data, {"jaster_dir": str(tmp_path)}, num_fewshot=2)
        return
    _, pre = loaded("jaster:jnli", data, {"jaster_dir": str(tmp_path)}, num_fewshot=2)
    assert pre.fingerprint["datasets"]["jnli"]["fewshot"].startswith(expected)


def test_jaster_dir_parameter_reaches_the_task_and_run_json(tmp_path, data):
    evaluation = tmp_path / "pre" / "evaluation"
    test = {"instruction": "前提と仮説の関係を答えよ。", "output_length": 3, "metrics": ["exact_match"],
            "label_list": ["entailment", "contradiction", "neutral"],
            "samples": [{"input": "前提：A\n仮説：B", "output": "neutral"}]}
    write(evaluation / "test" / "jnli.json", json.dumps(test, ensure_ascii=False))
    write(evaluation / "train" / "jnli.json", json.dumps(test, ensure_ascii=False))
    write(tmp_path / "pre" / "prompt_frame.json", json.dumps(FRAME))  # a user's output with the frame file beside it
    replay = tmp_path / "replay.jsonl"
    replay.write_text(json.dumps({"task": "jaster:jnli", "sample_id": "jnli-0", "output": "neutral"}) + "\n")
    result = invoke("run", "--tasks", "jaster:jnli", "--model", f"replay/{replay}", "-T", f"jaster_dir={tmp_path / 'pre'}",
                    "--num-fewshot", "0", "--output-dir", tmp_path / "results", "--run-name", "pre", "--no-cache")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "results" / "pre" / "run.json").read_text())
    assert manifest["spec"]["task_params"] == {"jaster:jnli": {"jaster_dir": str((tmp_path / "pre").resolve())}}
    assert manifest["tasks"]["jaster:jnli"]["params"] == {
        "prompts": "llm-jp-eval-1.3.0", "max_samples": 100, "jaster_dir": str((tmp_path / "pre").resolve()),
        "protocol_dir": None, "metrics": None}
    assert manifest["tasks"]["jaster:jnli"]["data"]["prompts"]["frame_file"] == str(tmp_path / "pre" / "prompt_frame.json")
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
    llm_jp_eval = ["FA", "HE", "MC", "MR", "NLI", "QA", "RC"]  # the categories of llm-jp-eval's AVG present here
    assert table.loc["all", "strict"] == pytest.approx(sum(table.loc[c, "strict"] for c in llm_jp_eval) / len(llm_jp_eval))
    every = [*llm_jp_eval, "CoLA", "STS"]
    assert table.loc["all+CoLA+STS", "strict"] == pytest.approx(sum(table.loc[c, "strict"] for c in every) / len(every))
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


@pytest.mark.parametrize("changed, named", [
    (["-T", "max_samples=3"], "task parameter jaster:jnli max_samples (2 -> 3)"),
    (["-T", "max_samples=2", "-T", "prompts=evalkit"], "task parameter jaster:jnli prompts (unset -> 'evalkit')"),
])
def test_a_run_is_not_continued_with_other_sample_counts_or_prompts(data, tmp_path, changed, named):
    replay = tmp_path / "replay.jsonl"
    replay.write_text("".join(json.dumps({"task": "jaster:jnli", "sample_id": f"jnli-{i}", "output": "neutral"}) + "\n"
                              for i in range(6)))
    args = ["run", "--tasks", "jaster:jnli", "--model", f"replay/{replay}", "--data-dir", data,
            "--output-dir", tmp_path / "results", "--run-name", "r", "--no-cache"]
    assert invoke(*args, "-T", "max_samples=2").exit_code == 0
    result = invoke(*args, *changed)
    assert result.exit_code == 2 and named in result.stderr, result.stderr
    records = (tmp_path / "results" / "r" / "samples.jsonl").read_text().splitlines()
    assert len(records) == 2  # nothing of the refused invocation was written
