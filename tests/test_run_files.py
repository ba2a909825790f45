"""Run folders, the one reader and writer: the published schema, lines that do not fit, and folders an older evalkit wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from evalkit.errors import EvalkitError
from evalkit.manifest import upgrade_v1_manifest
from evalkit.records import SampleRecord, upgrade_v1_record
from evalkit.runner import run_evaluation
from evalkit.schemas import FOLDER, generated, render
from evalkit.spec import RunSpec
from evalkit.store import RunResult, RunStore
from evalkit.testing.scripted import ScriptedBackend
from evalkit.types import Completion, RequestError
from tests.cli_process import run_evalkit, stderr_lines
from tests.conftest import make_data_dir
from tests.mt_bench_data import make_mt_bench_data, model_reply

FIXTURES = Path(__file__).parent / "fixtures_runs"


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads((FOLDER / name).read_text()))


def lines(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


# --- the published schema ---------------------------------------------------------------------------


def test_the_published_schemas_are_the_ones_the_models_give():
    for name, schema in generated().items():
        assert (FOLDER / name).read_text() == render(schema), f"{name} is stale: run `python -m evalkit.schemas`"


def test_real_run_folders_satisfy_the_published_schema(data_dir, tmp_path):
    def script(request):
        if request.sample_id == "2":
            return Completion(text=None, error=RequestError("http", "overloaded", status=503))
        return "It is 4.\n#### 4"

    spec = RunSpec(tasks=["gsm8k", "gsm8k:chat"], model="scripted/fake", data_dir=str(data_dir), limit=4, num_fewshot=1,
                   max_error_rate=0.5)
    run_evaluation(spec, tmp_path / "gsm8k", cache_path=None, backend=ScriptedBackend(script))
    mt_data = make_mt_bench_data(tmp_path / "mt_data")
    spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(mt_data), judge="openai/judge", limit=3)
    run_evaluation(spec, tmp_path / "mt", cache_path=None, backend=ScriptedBackend(model_reply),
                   judge_backend=ScriptedBackend(lambda r: "Rating: [[7]]"))
    for run_dir in (tmp_path / "gsm8k", tmp_path / "mt"):
        validator("run-manifest.schema.json").validate(json.loads((run_dir / "run.json").read_text()))
        for record in lines(run_dir):
            validator("sample-record.schema.json").validate(record)
    failed = next(r for r in lines(tmp_path / "gsm8k") if r["error"])
    assert not validator("sample-record.schema.json").is_valid({**failed, "error": "HTTP 503: overloaded"})
    assert not validator("sample-record.schema.json").is_valid({**failed, "output": None})


# --- lines that do not fit ---------------------------------------------------------------------------


GOOD = SampleRecord(task="gsm8k", sample_id="0", genre="math", outputs=["#### 4"], scores={"strict_match": 1.0})


@pytest.mark.parametrize("line, field", [
    ("{oops", "Invalid JSON"),
    ("[1, 2]", "the line"),
    ("{}", "task: Field required"),
    (json.dumps({**GOOD.model_dump(), "genre": None}), "genre: Input should be a valid string"),
    (json.dumps({**GOOD.model_dump(), "sample_id": 0}), "sample_id: Input should be a valid string"),
    (json.dumps({**GOOD.model_dump(), "outputs": "#### 4"}), "outputs: Input should be a valid array"),
    (json.dumps({**GOOD.model_dump(), "choice": -1}), "choice: Input should be greater than or equal to 0"),
    (json.dumps({**GOOD.model_dump(), "scores": {"strict_match": "high"}}), "scores.strict_match"),
    (json.dumps({**GOOD.model_dump(), "error": {"kind": "gremlins", "message": "?"}}), "error.kind"),
    (json.dumps({**GOOD.model_dump(), "output": "#### 4"}), "output: Extra inputs are not permitted"),  # a v1 line
])
def test_a_line_that_does_not_fit_is_named_by_file_line_and_field(tmp_path, data_dir, line, field):
    run_dir = tmp_path / "run"
    spec = RunSpec(tasks=["gsm8k"], model="scripted/fake", data_dir=str(data_dir), limit=2, num_fewshot=1)
    run_evaluation(spec, run_dir, cache_path=None, backend=ScriptedBackend(lambda r: "#### 4"))
    path = run_dir / "samples.jsonl"
    path.write_text(path.read_text().splitlines(keepends=True)[0] + line + "\n")
    with pytest.raises(EvalkitError) as caught:
        RunResult.read(run_dir)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: not an evalkit sample record (") and field in message
    result = run_evalkit("score", run_dir, cwd=tmp_path)
    assert result.returncode == 2 and stderr_lines(result) == [f"error: {message}"]


def test_a_folder_from_a_newer_evalkit_says_to_upgrade(tmp_path):
    shutil.copytree(FIXTURES / "v1_gsm8k", tmp_path / "run")
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps({**manifest, "format": "evalkit-run/3"}))
    with pytest.raises(EvalkitError, match=r"written by a newer evalkit \(format 'evalkit-run/3'.*upgrade evalkit"):
        RunResult.read(tmp_path / "run")


def test_reading_never_writes_but_the_writer_cuts_a_torn_last_line(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    spec = RunSpec(tasks=["gsm8k"], model="scripted/fake", data_dir=str(data_dir), limit=3, num_fewshot=1)
    run_evaluation(spec, run_dir, cache_path=None, backend=ScriptedBackend(lambda r: "#### 4"))
    path = run_dir / "samples.jsonl"
    torn = path.read_bytes() + b'{"task": "gsm8k", "sampl'
    path.write_bytes(torn)
    assert len(RunResult.read(run_dir).records) == 3 and path.read_bytes() == torn
    assert len(RunStore.open(run_dir).records()) == 3 and path.read_bytes() == torn[: -len(b'{"task": "gsm8k", "sampl')]


# --- folders evalkit 0.1.0 wrote (evalkit-run/1) ----------------------------------------------------------


def legacy_copy(name: str, tmp_path: Path, data_dir: Path) -> Path:
    run_dir = tmp_path / name
    shutil.copytree(FIXTURES / name, run_dir)
    manifest = run_dir / "run.json"
    manifest.write_text(manifest.read_text().replace('"DATA_DIR"', json.dumps(str(data_dir))))
    return run_dir


def test_an_old_run_folder_reads_as_it_is(tmp_path):
    run_dir = legacy_copy("v1_gsm8k", tmp_path, tmp_path / "data")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    run = RunResult.read(run_dir)
    assert run.manifest.format == "evalkit-run/2" and run.manifest.upgraded_from == "evalkit-run/1"
    assert run.manifest.spec.task_params == {} and run.manifest.tasks["gsm8k"].params == {}
    by_id = {r.sample_id: r for r in run.records}
    assert by_id["0"].outputs == ["So the answer is 7.\n#### 4"] and by_id["0"].scores["strict_match"] == 1.0
    assert by_id["3"].outputs == [] and by_id["3"].error == RequestError(
        "missing", "no output for gsm8k sample 3")
    assert run.summary().query("genre == 'all' and metric == 'strict_match'").value.iloc[0] == pytest.approx(2 / 3)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before  # reading changed nothing


def test_scoring_an_old_run_again_upgrades_it_in_place_with_the_same_numbers(tmp_path):
    data = make_data_dir(tmp_path / "data", n_test=4, n_train=3)
    run_dir = legacy_copy("v1_gsm8k", tmp_path, data)
    old_summary = (run_dir / "summary.csv").read_text()
    result = run_evalkit("score", run_dir, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((run_dir / "run.json").read_text())
    assert (manifest["format"], manifest["upgraded_from"]) == ("evalkit-run/2", "evalkit-run/1")
    assert all("outputs" in r and "output" not in r for r in lines(run_dir))
    assert (run_dir / "summary.csv").read_text() == old_summary


def test_an_old_interrupted_run_resumes_redoing_only_what_failed(tmp_path):
    data = make_mt_bench_data(tmp_path / "data")
    run_dir = legacy_copy("v1_mt_bench", tmp_path, data)
    old = {r.sample_id: r for r in RunResult.read(run_dir).records}
    assert old["83"].outputs == ["answer 83 turn 1 choice 0"]  # its second turn failed
    assert (old["83"].error.kind, old["83"].error.status, old["83"].error.attempts) == ("http", 500, 2)
    assert old["82"].details["judgments"]["turn2"][0]["failure"] == "request: HTTP 429: rate limited (after 2 attempts)"

    model, judge = ScriptedBackend(model_reply), ScriptedBackend(lambda r: "Rating: [[6]]")
    spec = RunResult.read(run_dir).manifest.spec  # what `evalkit run --resume RUN` starts from
    outcome = run_evaluation(spec, run_dir, cache_path=None, backend=model, judge_backend=judge)
    assert sorted((r.sample_id, r.turn) for r in model.received) == [("83", 0), ("83", 1)]  # the failed answer only
    # 82, whose judgment failed, is judged again (its first turn too: this test has no request cache), and
    # the regenerated 83; 81 and 84 keep their judgments
    assert sorted((r.sample_id, r.turn) for r in judge.received) == [("82", 0), ("82", 1), ("83", 0), ("83", 1)]
    assert outcome.manifest.upgraded_from == "evalkit-run/1" and outcome.manifest.status == "completed"
    assert {r.sample_id: r.scores["score"] for r in RunResult.read(run_dir).records} == {
        "81": 6.0, "82": 6.0, "83": 6.0, "84": 6.0}


def test_the_task_settings_of_an_old_spec_become_task_parameters():
    manifest = json.loads((FIXTURES / "v1_mt_bench" / "run.json").read_text())
    spec = {**manifest["spec"], "tasks": ["mt_bench", "jaster:NLI", "gsm8k"], "baseline": "/runs/gpt4",
            "jaster_dir": "/llm-jp-eval/1.3.0"}
    tasks = {"mt_bench": manifest["tasks"]["mt_bench"], "gsm8k": {**manifest["tasks"]["mt_bench"]},
             "jaster:NLI": {**manifest["tasks"]["mt_bench"], "data": {"max_samples_per_dataset": None}}}
    upgraded = upgrade_v1_manifest({**manifest, "spec": spec, "tasks": tasks, "import": {"from": "fastchat"}})
    assert upgraded["spec"]["task_params"] == {"mt_bench": {"baseline": "/runs/gpt4"},
                                               "jaster:NLI": {"jaster_dir": "/llm-jp-eval/1.3.0", "max_samples": -1}}
    assert "baseline" not in upgraded["spec"] and "jaster_dir" not in upgraded["spec"]
    assert upgraded["tasks"]["gsm8k"]["params"] == {} and upgraded["origin"] == {"from": "fastchat"}


@pytest.mark.parametrize("text, error", [
    ("HTTP 503: busy (after 5 attempts)", RequestError("http", "busy", status=503, attempts=5)),
    ("HTTP 400: Error code: 400 - bad: request", RequestError("http", "Error code: 400 - bad: request", status=400)),
    ("timeout: no answer within 600 s", RequestError("timeout", "no answer within 600 s")),
    ("connection: refused (after 2 attempts)", RequestError("connection", "refused", attempts=2)),
    ("malformed response: no choices", RequestError("malformed", "no choices")),
    ("replay: no output for turn 2", RequestError("missing", "no output for turn 2")),
    ("vllm: RuntimeError: CUDA out of memory", RequestError("engine", "RuntimeError: CUDA out of memory")),
    ("something nobody planned for", RequestError("engine", "something nobody planned for")),
])
def test_old_error_messages_become_typed_errors(text, error):
    upgraded = upgrade_v1_record({"task": "t", "sample_id": 3, "genre": "g", "output": None, "error": text})
    assert upgraded["error"] == error and upgraded["outputs"] == [] and upgraded["sample_id"] == "3"
    assert upgrade_v1_record(upgraded) == upgraded  # an upgraded line is left as it is
