"""No reply and no bad input can crash a run: text that is not valid Unicode, damaged caches and files, bad names.

A lone surrogate ("\\ud800", which a JSON escape decodes to) from a server, a replay file, the cache
or a record is stored with U+FFFD in its place and the reply as it came kept escaped; every command
reads and shows it. Each bad input ends in one line that says what to do, a non-zero exit and no
traceback, and writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.backends.managed import ManagedBackend
from evalkit.cache import RequestCache, request_key
from evalkit.cli import cli
from evalkit.records import SampleRecord
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.store import RunResult
from evalkit.testing.scripted import ScriptedBackend
from evalkit.testing.stub_server import StubConfig, StubServer
from evalkit.text_safety import escaped, is_valid_unicode, repaired, safe_completion
from evalkit.types import Completion, GenerationParams, Request, RequestError
from tests.cli_process import run_evalkit
from tests.conftest import make_data_dir
from tests.mt_bench_data import make_mt_bench_data

FFFD = "\ufffd"


@pytest.fixture(scope="module")
def gsm8k_data(tmp_path_factory) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("data"), n_test=4)


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env={"COLUMNS": "200"})


def error_line(result) -> str:
    """The one line a bad input ends in: stderr's last line, and the only `error:` line, with no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code != 0 and "Traceback" not in result.output + result.stderr
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], lines
    return lines[-1]


def right_answer(prompt: str) -> int:
    """The answer to the last invented GSM8K question in a prompt (tests/conftest.py's problems)."""
    a, b = re.findall(r"Mika has (\d+) pencils and buys (\d+) more", prompt)[-1]
    return int(a) + int(b)


def hostile_reply(prompt: str) -> str:
    """A right answer wrapped in lone surrogates: one at the start, one inside, one as the last character."""
    return f"\ud800 She has them all.\n#### {right_answer(prompt)} \udbff done\udfff"


# --- the repair itself ----------------------------------------------------------------------------

REPAIRS = [
    # (what, text, repaired, escaped)
    ("valid text stays as it is", "答えは 42 です 😀", "答えは 42 です 😀", "答えは 42 です 😀"),
    ("a lone high surrogate", "a\ud800b", f"a{FFFD}b", "a\\ud800b"),
    ("a lone low surrogate as the last character", "end\udfff", f"end{FFFD}", "end\\udfff"),
    ("nothing but surrogates", "\udfff\ud800", FFFD * 2, "\\udfff\\ud800"),
    ("a high and a low side by side: the character they encode", "\ud83d\ude00", "😀", "\\ud83d\\ude00"),
    ("a replacement character that was there already", f"x{FFFD}", f"x{FFFD}", f"x{FFFD}"),
    ("a backslash just before a surrogate", "\\\ud800", f"\\{FFFD}", "\\\\ud800"),
    ("empty", "", "", ""),
]


@pytest.mark.parametrize("what, text, fixed, kept", REPAIRS, ids=[r[0] for r in REPAIRS])
def test_text_is_repaired_with_u_fffd_and_kept_escaped(what, text, fixed, kept):
    assert repaired(text) == fixed and is_valid_unicode(repaired(text))
    assert escaped(text) == kept and is_valid_unicode(kept)
    if "\ud83d" not in text:  # JSON reads an escaped pair back as one character; a lone one comes back as it was
        assert json.loads(escaped(json.dumps(text, ensure_ascii=False))) == text


def test_a_completion_is_repaired_in_every_text_it_carries():
    error = RequestError("http", "bad \ud800 gateway", status=502)
    assert safe_completion(Completion(text=None, error=error)).error.message == f"bad {FFFD} gateway"
    odd = safe_completion(Completion(text="ok\udfff", finish_reason="st\ud800op"))
    assert (odd.text, odd.finish_reason, odd.received) == (f"ok{FFFD}", f"st{FFFD}op", "ok\\udfff")
    fine = Completion(text="ok", finish_reason="stop")
    assert safe_completion(fine) is fine


def test_a_record_built_from_invalid_text_holds_it_repaired_and_the_replies_as_they_came():
    record = SampleRecord(task="t", sample_id="1\ud800", genre="g", prompt="p\udfff", outputs=["a\ud800", "b"],
                          details={"k\ud800": ["v\udfff"]})
    assert (record.sample_id, record.prompt, record.outputs) == (f"1{FFFD}", f"p{FFFD}", [f"a{FFFD}", "b"])
    assert record.escaped_outputs == ["a\\ud800", "b"] and record.details == {f"k{FFFD}": [f"v{FFFD}"]}
    assert SampleRecord.model_validate_json(record.to_line()) == record


# --- through a server, a replay file, the cache and every command --------------------------------


def gsm8k_spec(data: Path, model: str, **overrides) -> RunSpec:
    return RunSpec(tasks=["gsm8k"], model=model, data_dir=str(data), num_fewshot=1, **overrides)


def assert_repaired_and_scored(run_dir: Path, n: int) -> None:
    records = RunResult.read(run_dir).records
    assert len(records) == n
    for record in records:
        (output,) = record.outputs
        assert is_valid_unicode(output) and output.startswith(FFFD) and output.endswith(f"done{FFFD}")
        assert record.escaped_outputs == [escaped(hostile_reply(record.prompt))]
        assert record.scores["strict_match"] == 1.0  # the scorer read the repaired text


def test_lone_surrogates_from_a_server_are_stored_repaired_and_a_rerun_reads_them_from_the_cache(gsm8k_data, tmp_path):
    with StubServer(StubConfig(reply=hostile_reply)) as base_url:
        spec = gsm8k_spec(gsm8k_data, "openai/stub", base_url=base_url)
        first = run_evaluation(spec, tmp_path / "first", cache_path=tmp_path / "cache.sqlite")
        again = run_evaluation(spec, tmp_path / "again", cache_path=tmp_path / "cache.sqlite")
    assert first.manifest.status == again.manifest.status == "completed"
    assert (first.stats.sent, first.stats.repaired) == (4, 4)
    assert (again.stats.sent, again.stats.cache_hits, again.stats.repaired) == (0, 4, 4)
    assert_repaired_and_scored(tmp_path / "first", 4)
    assert_repaired_and_scored(tmp_path / "again", 4)
    # the cache holds each reply as it came, in valid UTF-8
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        rows = db.execute("SELECT CAST(value AS BLOB) FROM completions").fetchall()
    stored = sorted(json.loads(bytes(value).decode("utf-8"))["text"] for (value,) in rows)
    assert stored == sorted(hostile_reply(r.prompt) for r in RunResult.read(tmp_path / "first").records)


def test_every_command_reads_and_shows_a_run_whose_replies_were_repaired(gsm8k_data, tmp_path):
    """Real processes, so that the terminal's and the files' encodings are the ones users get."""
    with StubServer(StubConfig(reply=hostile_reply)) as base_url:
        ran = run_evalkit("run", "--tasks", "gsm8k", "--model", "openai/stub", "--base-url", base_url, "--data-dir",
                          gsm8k_data, "--num-fewshot", 1, "--output-dir", "out", "--run-name", "a", "--cache",
                          "c.sqlite", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    for args in (["show", "out/a"], ["show", "out/a", "--format", "md"], ["show", "out/a", "--format", "json"],
                 ["score", "out/a", "--no-cache"], ["score", "out/a", "--into", "out/b", "--no-cache"],
                 ["compare", "out/a", "out/b"], ["report", "out/a", "out/b", "-o", "report.html"]):
        result = run_evalkit(*args, cwd=tmp_path)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
    shown = run_evalkit("show", "out/a", cwd=tmp_path).stdout
    assert "4 answers held text that is not valid Unicode" in " ".join(shown.split())
    assert_repaired_and_scored(tmp_path / "out" / "b", 4)


def test_lone_surrogate_escapes_in_a_replay_file_are_repaired_and_flagged(gsm8k_data, tmp_path):
    prompts = {r["sample_id"]: r["prompt"] for r in map(json.loads, dump_prompts(gsm8k_data, tmp_path))}
    replay = tmp_path / "outputs.jsonl"
    # json.dumps writes each lone surrogate as its "\ud800" escape, as a foreign tool would
    replay.write_text("".join(json.dumps({"task": "gsm8k", "sample_id": i, "output": hostile_reply(p)}) + "\n"
                              for i, p in prompts.items()))
    assert "\\ud800" in replay.read_text()
    outcome = run_evaluation(gsm8k_spec(gsm8k_data, f"replay/{replay}"), tmp_path / "run", cache_path=None)
    assert outcome.manifest.status == "completed" and outcome.stats.repaired == 4
    assert_repaired_and_scored(tmp_path / "run", 4)


def dump_prompts(data: Path, tmp_path: Path) -> list[str]:
    dumped = invoke("dump", "--tasks", "gsm8k", "--data-dir", data, "--num-fewshot", 1, "-o", tmp_path / "p.jsonl")
    assert dumped.exit_code == 0
    return (tmp_path / "p.jsonl").read_text().splitlines()


def test_a_multi_turn_chat_and_its_judge_carry_repaired_text_from_turn_to_turn(tmp_path):
    """Turn 1's reply holds a lone surrogate: turn 2 is asked with it repaired, both turns are kept as
    they came, and the judge's own lone surrogates do not stop its rating from being read."""
    data = make_mt_bench_data(tmp_path / "data")

    def model(request: Request) -> str:
        return "first \ud800 answer" if request.turn == 0 else "second answer"

    model_backend, judge_backend = ScriptedBackend(model), ScriptedBackend(lambda r: "Fine\udfff.\nRating: [[7]]\ud800")
    spec = RunSpec(tasks=["mt_bench"], model="scripted/model", data_dir=str(data), judge="openai/judge", limit=2)
    outcome = run_evaluation(spec, tmp_path / "run", cache_path=tmp_path / "c.sqlite", backend=model_backend,
                             judge_backend=judge_backend)
    assert outcome.manifest.status == "completed" and outcome.manifest.judge_requests.repaired > 0
    second_turns = [r for r in model_backend.received if r.turn == 1]
    assert second_turns and all(f"first {FFFD} answer" in json.dumps(r.messages, ensure_ascii=False)
                                for r in second_turns)
    for record in RunResult.read(tmp_path / "run").records:
        assert record.outputs == [f"first {FFFD} answer", "second answer"]
        assert record.escaped_outputs == ["first \\ud800 answer", "second answer"]
        assert (record.scores["turn1"], record.scores["turn2"], record.scores["judge_failures"]) == (7.0, 7.0, 0.0)
        assert FFFD in json.dumps(record.details, ensure_ascii=False)


def test_a_record_line_with_a_lone_surrogate_escape_is_read_repaired(gsm8k_data, tmp_path):
    replay = tmp_path / "outputs.jsonl"
    replay.write_text(json.dumps({"task": "gsm8k", "sample_id": 0, "output": "#### 8"}) + "\n")
    run_evaluation(gsm8k_spec(gsm8k_data, f"replay/{replay}", limit=1), tmp_path / "run", cache_path=None)
    samples = tmp_path / "run" / "samples.jsonl"
    samples.write_text(samples.read_text().replace('"#### 8"', '"#### 8 \\ud800"'))
    (record,) = RunResult.read(tmp_path / "run").records
    assert record.outputs == [f"#### 8 {FFFD}"] and record.escaped_outputs == ["#### 8 \\ud800"]
    assert invoke("score", tmp_path / "run", "--no-cache").exit_code == 0
    assert json.loads(samples.read_text())["outputs"] == [f"#### 8 {FFFD}"]


# --- the request cache --------------------------------------------------------------------------

DAMAGED_ROWS = [
    ("not JSON", "{not json"),
    ("JSON that is not an object", "[1, 2]"),
    ("no text", '{"finish_reason": "stop"}'),
    ("a text that is not a string", '{"text": 5}'),
    ("a finish reason that is not a string", '{"text": "x", "finish_reason": {"a": 1}}'),
    ("bytes that are not UTF-8", b"\xff\xfe\x00"),
]


@pytest.mark.parametrize("what, value", DAMAGED_ROWS, ids=[r[0] for r in DAMAGED_ROWS])
def test_a_damaged_cache_entry_is_asked_again_and_replaced(tmp_path, what, value):
    requests = [Request(kind="completion", params=GenerationParams(), prompt=f"question {i}") for i in range(3)]

    def answer_all(cache: RequestCache) -> ScriptedBackend:
        backend = ScriptedBackend(lambda r: f"answer to {r.prompt}")

        async def go():
            return [c async for _, c in ManagedBackend(backend, cache).stream(requests)]

        assert sorted(c.text for c in asyncio.run(go())) == [f"answer to question {i}" for i in range(3)]
        return backend

    cache = RequestCache(tmp_path / "c.sqlite")
    answer_all(cache)
    damaged = request_key(ScriptedBackend(str).identity(), requests[1])
    cache._db.execute("UPDATE completions SET value = ? WHERE key = ?", (value, damaged))
    assert [r.prompt for r in answer_all(cache).received] == ["question 1"]
    assert answer_all(cache).received == []  # replaced


def test_a_cache_file_that_is_not_sqlite_is_one_line_and_nothing_is_written(gsm8k_data, tmp_path):
    (tmp_path / "cache.sqlite").write_text("this is not a database\n" * 100)
    (tmp_path / "none.jsonl").write_text("")
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{tmp_path / 'none.jsonl'}", "--data-dir",
                    gsm8k_data, "--output-dir", tmp_path / "out", "--cache", tmp_path / "cache.sqlite")
    line = error_line(result)
    assert f"cannot open the request cache {tmp_path / 'cache.sqlite'}" in line and "--no-cache" in line
    assert not (tmp_path / "out").exists()


def test_a_cache_damaged_inside_is_one_line_and_the_run_resumes_with_another_cache(gsm8k_data, tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    for i in range(300):  # enough rows for several pages
        cache.put(f"{i:064x}", Completion(text="x" * 200))
    cache.close()
    data = bytearray((tmp_path / "cache.sqlite").read_bytes())
    for offset in range(2 * 4096, len(data), 4096):  # every b-tree page after the schema's
        data[offset:offset + 16] = b"\xff" * 16
    (tmp_path / "cache.sqlite").write_bytes(bytes(data))
    with StubServer(StubConfig(reply=hostile_reply)) as base_url:
        args = ["run", "--tasks", "gsm8k", "--model", "openai/stub", "--base-url", base_url, "--data-dir", gsm8k_data,
                "--num-fewshot", 1, "--output-dir", tmp_path / "out", "--run-name", "r"]
        line = error_line(invoke(*args, "--cache", tmp_path / "cache.sqlite"))
        cache_file = tmp_path / "cache.sqlite"
        assert f"the request cache {cache_file} cannot be used (database disk image is malformed)" in line
        assert json.loads((tmp_path / "out" / "r" / "run.json").read_text())["status"] == "interrupted"
        assert invoke(*args, "--cache", tmp_path / "fresh.sqlite").exit_code == 0
    assert_repaired_and_scored(tmp_path / "out" / "r", 4)


# --- bad names, bad lines -----------------------------------------------------------------------

BAD_RUN_NAMES = [
    ("empty", "", "--run-name is empty"),
    ("blank", "   ", "--run-name is empty"),
    ("300 characters", "a" * 300, "--run-name is 300 characters (300 bytes in UTF-8)"),
    ("100 Japanese characters, 300 bytes", "評" * 100, "--run-name is 100 characters (300 bytes in UTF-8)"),
    ("a path", "a/b", "must be a plain folder name"),
    ("the parent", "..", "must be a plain folder name"),
    ("a NUL", "a\0b", "must be a plain folder name"),
    ("not UTF-8", "run\udcff", "is not valid UTF-8 text"),
]


@pytest.mark.parametrize("what, name, says", BAD_RUN_NAMES, ids=[r[0] for r in BAD_RUN_NAMES])
def test_a_bad_run_name_is_one_line_and_nothing_is_written(gsm8k_data, tmp_path, what, name, says):
    (tmp_path / "outputs.jsonl").write_text("")
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{tmp_path / 'outputs.jsonl'}", "--data-dir",
                    gsm8k_data, "--output-dir", tmp_path / "out", "--run-name", name)
    assert says in error_line(result) and result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_the_longest_run_name_a_folder_takes_is_taken(gsm8k_data, tmp_path):
    (tmp_path / "outputs.jsonl").write_text(json.dumps({"task": "gsm8k", "sample_id": 0, "output": "#### 8"}) + "\n")
    name = "評" * 85  # 255 bytes
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{tmp_path / 'outputs.jsonl'}", "--data-dir",
                    gsm8k_data, "--output-dir", tmp_path / "out", "--run-name", name, "--limit", 1)
    assert result.exit_code == 0 and (tmp_path / "out" / name / "run.json").is_file()


@pytest.fixture
def finished_run(gsm8k_data, tmp_path) -> Path:
    replay = tmp_path / "outputs.jsonl"
    replay.write_text("".join(json.dumps({"task": "gsm8k", "sample_id": i, "output": "#### 8"}) + "\n"
                              for i in range(4)))
    run_evaluation(gsm8k_spec(gsm8k_data, f"replay/{replay}"), tmp_path / "run", cache_path=None)
    return tmp_path / "run"


GARBAGE_LINES = [
    ("not JSON", "garbage"),
    ("binary", "\x00\x01\x02"),
    ("JSON, not an object", "[1, 2]"),
    ("an object that is no record", '{"task": "gsm8k"}'),
    ("nested past any limit", '{"a":' * 5000 + "1" + "}" * 5000),
]


@pytest.mark.parametrize("what, garbage", GARBAGE_LINES, ids=[r[0] for r in GARBAGE_LINES])
def test_a_garbage_line_in_samples_jsonl_is_one_line_naming_it_for_every_command(finished_run, what, garbage):
    samples = finished_run / "samples.jsonl"
    lines = samples.read_text().splitlines(keepends=True)
    samples.write_text(lines[0] + garbage + "\n" + "".join(lines[1:]))
    before = samples.read_bytes()
    for args in (["show", finished_run], ["score", finished_run, "--no-cache"],
                 ["run", "--resume", finished_run, "--no-cache"], ["compare", finished_run, finished_run],
                 ["report", finished_run, "-o", finished_run.parent / "r.html"],
                 ["gate", "--baseline", finished_run, "--candidate", finished_run]):
        line = error_line(invoke(*args))
        assert line.startswith(f"error: {samples}:2: not an evalkit sample record (")
        assert line.endswith("; fix or delete that line, then run the command again")
    assert samples.read_bytes() == before


def test_a_record_of_a_task_the_run_does_not_list_does_not_break_the_report(finished_run):
    samples = finished_run / "samples.jsonl"
    record = json.loads(samples.read_text().splitlines()[0])
    samples.write_text(samples.read_text() + json.dumps({**record, "task": "elsewhere"}) + "\n")
    assert invoke("report", finished_run, "-o", finished_run.parent / "r.html").exit_code == 0


REPLAY_FILES = [
    ("a line that is not JSON", b'{"task": "gsm8k", "sample_id": 0, "output": "#### 8"}\n{"task": \n',
     ":2: not valid JSON"),
    ("bytes that are not UTF-8", b'{"task": "gsm8k", "sample_id": 0, "output": "\xff\xfe"}\n', ":1: not UTF-8 text"),
    ("a line that is JSON but no object", b'"just a string"\n', ":1: expected a JSON object"),
]


@pytest.mark.parametrize("what, content, says", REPLAY_FILES, ids=[r[0] for r in REPLAY_FILES])
def test_a_bad_replay_file_is_one_line_naming_the_line_and_nothing_is_written(gsm8k_data, tmp_path, what, content,
                                                                              says):
    replay = tmp_path / "outputs.jsonl"
    replay.write_bytes(content)
    result = invoke("run", "--tasks", "gsm8k", "--model", f"replay/{replay}", "--data-dir", gsm8k_data,
                    "--output-dir", tmp_path / "out")
    line = error_line(result)
    assert line.startswith(f"error: replay file {replay}{says}") and "fix that line" in line
    assert not (tmp_path / "out").exists()


def test_a_data_file_with_lone_surrogate_escapes_is_asked_and_dumped_repaired(tmp_path):
    data = make_data_dir(tmp_path / "data", n_test=2)
    test_file = data / "gsm8k" / "test.jsonl"
    rows = [json.loads(line) for line in test_file.read_text().splitlines()]
    rows[0]["question"] += " \ud800"
    test_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    backend = ScriptedBackend(lambda r: "#### 7")
    run_evaluation(gsm8k_spec(data, "scripted/model"), tmp_path / "run", cache_path=tmp_path / "c.sqlite",
                   backend=backend)
    assert all(is_valid_unicode(r.prompt) for r in backend.received) and FFFD in backend.received[0].prompt
    assert invoke("dump", "--tasks", "gsm8k", "--data-dir", data, "-o", tmp_path / "p.jsonl").exit_code == 0


def test_the_stub_serves_a_lone_surrogate_as_its_json_escape():
    """What the server tests above rely on: the bytes on the wire hold the escape, as a hostile server's would."""
    with StubServer(StubConfig(reply=lambda prompt: "x\ud800")) as base_url:
        body = _post(f"{base_url}/completions", {"prompt": "p"})
    assert b'"x\\ud800"' in body


def _post(url: str, body: dict) -> bytes:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()
