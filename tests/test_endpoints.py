"""Several endpoints of one model, what keys their answers, and a deadline no answer can outlast.

The rotation's rules on a clock the test moves; then loopback stub servers: one stopped mid-run (the
run completes on the other, and a re-run on the survivor alone sends nothing), two models behind
one URL (no shared answers), replicas that disagree (one line), an endpoint unreachable at the
start, run.json's provenance, and a server whose answer never ends (a timeout, and the run goes on).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import socket
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.backends.base import Backend, BackendSettings, load_backend
from evalkit.backends.endpoints import EndpointPool, is_server_failure, served_identity, split_base_urls
from evalkit.backends.managed import ManagedBackend
from evalkit.backends.openai_models import check_reachable, model_entry
from evalkit.cli import cli
from evalkit.errors import EvalkitError
from evalkit.redact import redact_url
from evalkit.runner import SilentReporter, run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.stub_server import StubConfig, StubServer
from evalkit.types import Completion, GenerationParams, Request, RequestError
from tests.cli_process import free_port, read_jsonl, start_stub_process


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def completion_with(error: RequestError | None) -> Completion:
    return Completion(text=None, error=error) if error else Completion(text="ok")


REFUSED = RequestError("connection", "Connection refused", retryable=True)


# -- the rotation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "urls"), [
    ("http://a/v1", ("http://a/v1",)),
    ("http://a/v1,http://b/v1", ("http://a/v1", "http://b/v1")),
    (" http://a/v1/ , http://b/v1 ", ("http://a/v1", "http://b/v1")),
    ("http://a/v1,http://a/v1/", ("http://a/v1",)),  # the same server once
    ("http://a/v1,,", ("http://a/v1",)),
    (",", ()),
    ("", ()),
])
def test_a_base_url_value_is_one_url_or_a_comma_list(text, urls):
    assert split_base_urls(text) == urls


@pytest.mark.parametrize(("error", "server_at_fault"), [
    (RequestError("connection", "refused"), True),
    (RequestError("timeout", "no complete answer within 5 s"), True),
    (RequestError("http", "x", status=500), True),
    (RequestError("http", "x", status=502), True),
    (RequestError("http", "x", status=503), True),
    (RequestError("http", "x", status=504), True),
    (RequestError("http", "x", status=400), False),
    (RequestError("http", "x", status=404), False),
    (RequestError("http", "x", status=429), False),  # alive, and ManagedBackend holds every request back
    (RequestError("http", "x", status=501), False),
    (RequestError("unsupported", "response_format", status=500), False),  # the request's option, not the server
    (RequestError("malformed", "no choices"), False),
    (None, False),
])
def test_which_failures_rest_an_endpoint(error, server_at_fault):
    assert is_server_failure(error) is server_at_fault


def test_requests_go_to_the_least_busy_endpoint_each_taking_concurrency_at_most():
    async def go():
        pool = EndpointPool(["a", "b"], per_endpoint=2, clock=Clock())
        taken = [await pool.acquire() for _ in range(4)]
        assert [e.url for e in taken] == ["a", "b", "a", "b"]
        waiting = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)
        assert not waiting.done()  # both endpoints are full
        pool.release(taken[1], completion_with(None))
        assert (await waiting).url == "b"

    asyncio.run(go())


def test_a_failed_endpoint_rests_longer_each_time_in_a_row_and_an_answer_restores_it():
    clock = Clock()
    pool = EndpointPool(["a", "b"], per_endpoint=8, clock=clock, first_cooldown=2, max_cooldown=10)
    a, b = pool.endpoints

    async def fail_b_once() -> None:
        while (endpoint := await pool.acquire()) is not b:
            pool.release(endpoint, completion_with(None))
        pool.release(b, completion_with(REFUSED))

    async def go():
        rests = []
        for _ in range(4):
            await fail_b_once()
            rests.append(b.resting_until - clock.now)
            assert [(await pool.acquire()).url for _ in range(3)] == ["a"] * 3  # b rests: a takes everything
            for _ in range(3):
                pool.release(a, completion_with(None))
            clock.now = b.resting_until  # the rest is over: b is tried again
        assert rests == [2, 4, 8, 10]
        endpoint = await pool.acquire()
        assert endpoint is b
        pool.release(b, completion_with(None))
        assert (b.failures_in_a_row, b.resting_until, b.answered) == (0, 0.0, 1)

    asyncio.run(go())


def test_requests_in_flight_when_an_endpoint_dies_count_as_one_failure():
    clock = Clock()
    pool = EndpointPool(["a"], per_endpoint=8, clock=clock, first_cooldown=2)

    async def go():
        taken = [await pool.acquire() for _ in range(5)]
        for endpoint in taken:
            pool.release(endpoint, completion_with(REFUSED))
        endpoint = taken[0]
        assert (endpoint.failed, endpoint.failures_in_a_row, endpoint.resting_until) == (5, 1, clock.now + 2)

    asyncio.run(go())


def test_with_every_endpoint_resting_a_request_goes_to_the_first_back_and_is_not_rerouted():
    clock = Clock()
    pool = EndpointPool(["a", "b"], per_endpoint=8, clock=clock)
    a, b = pool.endpoints
    a.resting_until, b.resting_until = clock.now + 9, clock.now + 3

    async def go():
        first = await pool.acquire()
        assert first is b  # sent anyway, as to a single server: it fails, ManagedBackend retries
        assert await pool.acquire(tried=[b]) is None  # nothing live left to send it on to
        assert pool.rerouted == 0

    asyncio.run(go())


def test_concurrency_is_per_endpoint():
    class TwoServers(Backend):
        name, replicas = "two/x", 2

        def __init__(self) -> None:
            self.in_flight = self.most = 0

        def identity(self):
            return {"kind": "two"}

        async def generate(self, requests):
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            for _ in range(3):
                await asyncio.sleep(0)
            self.in_flight -= 1
            return [Completion(text="x") for _ in requests]

    backend = TwoServers()

    async def go():
        managed = ManagedBackend(backend, concurrency=3)
        requests = [Request(kind="completion", prompt=str(i), params=GenerationParams()) for i in range(20)]
        return [i async for i, _ in managed.stream(requests)]

    assert sorted(asyncio.run(go())) == list(range(20))
    assert backend.most == 3 * 2


# -- what keys an answer ------------------------------------------------------------------------


def test_what_differs_between_replicas_is_not_part_of_the_identity():
    replica = {"id": "m", "object": "model", "created": 1, "owned_by": "llamacpp",
               "meta": {"n_params": 268098176, "n_vocab": 262144, "size": 253}, "status": {"value": "loaded"},
               "permission": [{"id": "modelperm-1", "created": 1}]}
    other_start = {**replica, "created": 2, "permission": [{"id": "modelperm-2", "created": 2}]}
    assert served_identity(replica) == served_identity(other_start) == {
        "id": "m", "meta": {"n_params": 268098176, "n_vocab": 262144, "size": 253}, "owned_by": "llamacpp"}
    assert served_identity({**replica, "meta": {**replica["meta"], "n_params": 1}}) != served_identity(replica)


DEEP = "[" * 16 + "]" * 16


@pytest.mark.parametrize(("body", "model", "entry"), [
    (b'{"data": [{"id": "m", "owned_by": "me"}]}', "m", {"id": "m", "owned_by": "me"}),
    (b'{"data": [{"id": "llama3:latest", "owned_by": "library"}]}', "llama3",  # Ollama
     {"id": "llama3:latest", "owned_by": "library"}),
    (b'{"data": [{"id": "models/m", "x": 1}, {"id": "m", "x": 2}]}', "m", {"id": "m", "x": 2}),  # its very name first
    (b'{"data": [{"id": "m", "owned_by": "\\ud800x"}]}', "m", {"id": "m", "owned_by": "\ufffdx"}),  # lone surrogate
    (b'{"data": [{"id": "other"}]}', "m", None),
    (b'{"data": [{"id": "*"}]}', "m", None),  # a wildcard route describes nothing
    (b'{"data": [{"owned_by": "me"}]}', "m", None),
    (b'{"data": {"id": "m"}}', "m", None),
    (b"not json", "m", None),
    (b"", "m", None),
    (('{"data": [{"id": "m", "meta": ' + DEEP + '}]}').encode(), "m", None),  # nested past any description
])
def test_the_models_entry_of_the_model(body, model, entry):
    assert model_entry(body, model) == entry


def test_without_a_models_entry_the_url_keys_the_answers():
    with StubServer(StubConfig(models=[])) as url:  # a listing that names no model
        backend = load_backend("openai/anything", BackendSettings(base_url=url))
    assert backend.identity() == {"kind": "openai", "model": "anything", "base_url": url}


def test_with_a_models_entry_the_model_keys_the_answers_wherever_it_is_served():
    entries = [{"id": "m", "object": "model", "owned_by": "me", "created": 5}]
    with StubServer(StubConfig(models=entries)) as one, StubServer(StubConfig(models=entries)) as other:
        first = load_backend("openai/m", BackendSettings(base_url=one))
        second = load_backend("openai/m", BackendSettings(base_url=other))
    assert first.identity() == second.identity() == {"kind": "openai", "model": "m",
                                                     "served": {"id": "m", "owned_by": "me"}}


@pytest.mark.parametrize("text", ["http://u:pw@a/v1,http://b/v1", "http://a/v1,http://u:pw@b/v1",
                                  "http://a/v1,http://u:p,w@b/v1"])
def test_credentials_are_redacted_from_every_url_of_a_list(text):
    assert "pw" not in redact_url(text) and "p,w" not in redact_url(text) and "u:" not in redact_url(text)


@pytest.mark.parametrize("text", ["ftp://a/v1", "http://a/v1,127.0.0.1:8000/v1", "http://u:hun,ter2@b/v1"])
def test_a_value_that_is_not_a_list_of_http_urls_is_one_line(text):
    with pytest.raises(EvalkitError, match="not an http:// or https:// URL") as caught:
        load_backend("openai/m", BackendSettings(base_url=text, check_server=False))
    assert "hun" not in str(caught.value) and "ter2" not in str(caught.value)


# -- stub servers: one stopped mid-run ----------------------------------------------------------


def spec_for(data_dir: Path, base_url: str, limit: int, **extra) -> RunSpec:
    return RunSpec(tasks=["gsm8k"], model="openai/stub", base_url=base_url, data_dir=str(data_dir), limit=limit,
                   num_fewshot=1, **extra)


class StopAfter(SilentReporter):
    """Kills a stub server's process once `answers` samples are recorded."""

    def __init__(self, answers: int, process) -> None:
        self.left, self.process = answers, process

    def sample_done(self, task, record) -> None:
        self.left -= 1
        if self.left == 0:
            self.process.kill()


def test_a_server_stopped_mid_run_leaves_every_sample_answered_and_the_survivor_serves_a_rerun(data_dir, tmp_path):
    cache = tmp_path / "cache.sqlite"
    survivor, survivor_url = start_stub_process(tmp_path / "a.jsonl", "--latency", 0.1)
    doomed, doomed_url = start_stub_process(tmp_path / "b.jsonl", "--latency", 0.1)
    try:
        spec = spec_for(data_dir, f"{survivor_url},{doomed_url}", 12, concurrency=2, max_retries=0)
        backend = load_backend(spec.model, BackendSettings(base_url=spec.base_url, concurrency=2))
        outcome = run_evaluation(spec, tmp_path / "run", cache_path=cache, reporter=StopAfter(4, doomed),
                                 backend=backend)
        records = read_jsonl(tmp_path / "run" / "samples.jsonl")
        assert len(records) == 12 and all(r["error"] is None for r in records)
        assert outcome.stats.errors == 0 and outcome.stats.retries == 0
        counts = backend.endpoint_counts()
        assert counts[doomed_url]["answered"] >= 1 and counts[doomed_url]["failed"] >= 1
        assert backend.pool.rerouted >= 1
        assert counts[survivor_url]["answered"] + counts[doomed_url]["answered"] == 12

        sent_before = len(read_jsonl(tmp_path / "a.jsonl"))
        again = run_evaluation(spec_for(data_dir, survivor_url, 12), tmp_path / "again", cache_path=cache)
        assert (again.stats.sent, again.stats.cache_hits) == (0, 12)
        assert len(read_jsonl(tmp_path / "a.jsonl")) == sent_before
    finally:
        for process in (survivor, doomed):
            process.kill()
            process.wait()


# -- stub servers: two models behind one URL, replicas that disagree ------------------------------


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def cli_run(data_dir: Path, out: Path, name: str, cache: Path, *base_urls: str, model: str = "openai/m",
            extra: tuple[object, ...] = ()):
    urls = [arg for url in base_urls for arg in ("--base-url", url)]
    return invoke("run", "--tasks", "gsm8k", "--model", model, *urls, "--data-dir", data_dir, "--num-fewshot", "1",
                  "--limit", "3", "--output-dir", out, "--run-name", name, "--cache", cache, *extra)


def test_two_models_behind_one_url_never_share_answers(data_dir, tmp_path):
    log = tmp_path / "requests.jsonl"
    model = {"id": "m", "object": "model", "owned_by": "llamacpp", "meta": {"n_params": 268098176}}
    config = StubConfig(log=log, models=[model])
    with StubServer(config) as url:
        results = [cli_run(data_dir, tmp_path / "out", "first", tmp_path / "c.sqlite", url)]
        config.models = [{**model, "meta": {"n_params": 999}}]  # another model, same name, same URL
        results.append(cli_run(data_dir, tmp_path / "out", "second", tmp_path / "c.sqlite", url))
        config.models = [{**model, "created": 1234}]  # the first one again, restarted
        results.append(cli_run(data_dir, tmp_path / "out", "third", tmp_path / "c.sqlite", url))
    assert [r.exit_code for r in results] == [0, 0, 0], [r.output for r in results]
    assert len(read_jsonl(log)) == 3 + 3 + 0


def test_servers_that_serve_different_models_under_one_name_stop_the_run_in_one_line(data_dir, tmp_path):
    entry = {"id": "m", "object": "model", "owned_by": "vllm", "root": "/ckpt/a", "max_model_len": 4096}
    with StubServer(StubConfig(models=[entry])) as a, \
            StubServer(StubConfig(models=[{**entry, "root": "/ckpt/b", "created": 9}])) as b:
        result = cli_run(data_dir, tmp_path / "out", "r", tmp_path / "c.sqlite", a, b)
    assert result.exit_code == 2
    assert result.stderr == (f"error: {a} and {b} serve different models as 'm' (their /models entries differ in "
                             "root); pass one model's servers to --base-url\n")
    assert not (tmp_path / "out" / "r").exists()


def test_a_repeated_base_url_and_a_comma_list_are_the_same_and_both_servers_answer(data_dir, tmp_path):
    logs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    with StubServer(StubConfig(log=logs[0])) as a, StubServer(StubConfig(log=logs[1])) as b:
        repeated = cli_run(data_dir, tmp_path / "out", "repeated", tmp_path / "c1.sqlite", a, b, model="openai/stub")
        listed = cli_run(data_dir, tmp_path / "out", "listed", tmp_path / "c2.sqlite", f"{a},{b}", model="openai/stub")
    assert (repeated.exit_code, listed.exit_code) == (0, 0), repeated.output + listed.output
    specs = [json.loads((tmp_path / "out" / name / "run.json").read_text())["spec"] for name in ("repeated", "listed")]
    assert specs[0]["base_url"] == specs[1]["base_url"] == f"{a},{b}"
    assert all(read_jsonl(log) for log in logs)  # requests were spread over both


# -- an endpoint unreachable at the start -------------------------------------------------------


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


def test_an_unreachable_endpoint_is_left_out_with_a_note_and_the_run_goes_on(data_dir, tmp_path):
    down = closed_url()
    with StubServer(StubConfig()) as up:
        backend = load_backend("openai/stub", BackendSettings(base_url=f"{down},{up}"))
        outcome = run_evaluation(spec_for(data_dir, f"{down},{up}", 2), tmp_path / "run", cache_path=None,
                                 backend=backend)
    assert backend.urls == (up,)
    [note] = backend.plan_notes({})
    assert note.startswith(f"--base-url {down} is left out: cannot reach it (")
    assert note.endswith("); the run goes on with 1 other endpoint")
    assert outcome.manifest.backend["unreachable_at_start"] == [down]
    assert outcome.stats.errors == 0


def test_when_no_endpoint_answers_the_run_stops_in_one_line_naming_each(data_dir, tmp_path):
    first, second = closed_url(), closed_url()
    result = cli_run(data_dir, tmp_path / "out", "r", tmp_path / "c.sqlite", first, second, model="openai/stub")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: cannot reach any of the 2 model servers: {first} (")
    assert f"; {second} (" in line and line.endswith("; are they running, and is --base-url right?")


# -- provenance ---------------------------------------------------------------------------------


def test_run_json_says_which_library_model_and_models_entry_answered_without_the_key(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-written")
    entry = {"id": "m", "object": "model", "owned_by": "llamacpp", "meta": {"n_vocab": 262144}}
    with StubServer(StubConfig(models=[entry])) as url:
        result = cli_run(data_dir, tmp_path / "out", "r", tmp_path / "c.sqlite", url)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "r" / "run.json").read_text()
    assert "sk-never-written" not in text
    assert json.loads(text)["backend"] == {
        "kind": "openai", "library": "openai", "library_version": importlib.metadata.version("openai"),
        "model": "m", "endpoints": [url], "models_entry": entry,
    }


def test_provenance_names_endpoints_without_their_credentials():
    backend = load_backend("openai/m", BackendSettings(base_url="http://u:hunter2@a:1/v1,http://b:2/v1",
                                                       check_server=False))
    assert backend.provenance()["endpoints"] == ["http://a:1/v1", "http://b:2/v1"]
    assert "hunter2" not in json.dumps([backend.provenance(), backend.identity()])


# -- a deadline for the whole request -----------------------------------------------------------


class EndlessBody:
    """A raw-socket HTTP server: GET /v1/models answers at once (or trickles forever, `models_too`);
    any other request gets its headers and then one byte of body after another, never the end."""

    def __init__(self, models_too: bool = False) -> None:
        self.models_too = models_too
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stop = threading.Event()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"

    def __enter__(self) -> str:
        threading.Thread(target=self._accept, daemon=True).start()
        return self.url

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                piece = conn.recv(65536)
                if not piece:
                    return
                head += piece
            if head.startswith(b"GET /v1/models") and not self.models_too:
                body = b'{"object": "list", "data": [{"id": "stub", "object": "model"}]}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"1\r\n{\r\n")
            try:
                while not self.stop.wait(0.05):
                    conn.sendall(b"1\r\n \r\n")
            except OSError:  # the client gave up
                return


def test_a_body_that_never_ends_is_a_timeout_at_the_deadline():
    with EndlessBody() as url:
        backend = load_backend("openai/stub", BackendSettings(base_url=url, request_timeout=0.5))

        async def go():
            try:
                return await backend.generate([Request(kind="completion", prompt="1+1?", params=GenerationParams())])
            finally:
                await backend.aclose()

        [completion] = asyncio.run(go())
    assert completion.error == RequestError("timeout", "no complete answer within 0.5 s", retryable=True)


def test_a_models_answer_that_never_ends_does_not_hold_the_check():
    with EndlessBody(models_too=True) as url:
        assert check_reachable(url, timeout=0.5, model="stub") is None


def test_with_an_endless_endpoint_beside_a_sound_one_the_run_goes_on_and_answers_everything(data_dir, tmp_path):
    with EndlessBody() as endless, StubServer(StubConfig()) as sound:
        result = cli_run(data_dir, tmp_path / "out", "r", tmp_path / "c.sqlite", endless, sound, model="openai/stub",
                         extra=("--request-timeout", 1))
    assert result.exit_code == 0, result.output
    assert all(r["error"] is None for r in read_jsonl(tmp_path / "out" / "r" / "samples.jsonl"))


def test_with_only_an_endless_endpoint_the_run_ends_with_its_samples_timed_out(data_dir, tmp_path):
    with EndlessBody() as endless:
        result = cli_run(data_dir, tmp_path / "out", "r", tmp_path / "c.sqlite", endless, model="openai/stub",
                         extra=("--request-timeout", 0.5, "--max-retries", 0))
    assert result.exit_code == 1  # too many errors: the run failed, and ended
    records = read_jsonl(tmp_path / "out" / "r" / "samples.jsonl")
    assert [r["error"]["kind"] for r in records] == ["timeout"] * 3
