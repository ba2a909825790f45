"""The OpenAI backend's preflight against the loopback stub server: a base URL without /v1, a model the
server does not serve (the model's and the judge's), and an endpoint without /models (not held up);
and the message of a request answered 404 during the run."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from evalkit.backends.base import BackendSettings, load_backend
from evalkit.backends.openai_models import _same_model, not_served_message, served_models
from evalkit.cli import cli
from evalkit.errors import EvalkitError
from evalkit.testing import stub_server
from evalkit.testing.stub_server import StubConfig, StubServer
from evalkit.types import GenerationParams, Request
from tests.mt_bench_data import make_mt_bench_data

BUILD_APP = stub_server.build_app


@contextmanager
def stub(monkeypatch, models: tuple[str, ...] | int | None = ("stub",), config: StubConfig | None = None
         ) -> Iterator[str]:
    """The stub server whose GET /v1/models lists `models`, answers that status (an int), or is absent
    (None); completions as the stub answers them. Yields its base URL (…/v1)."""
    from aiohttp import web

    def build_app(cfg: StubConfig):
        app = web.Application()
        for route in BUILD_APP(cfg).router.routes():
            if not route.resource.canonical.endswith("/models"):
                app.router.add_route(route.method, route.resource.canonical, route.handler)
        if isinstance(models, tuple):
            async def listing(request):
                return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
            app.router.add_get("/v1/models", listing)
        elif isinstance(models, int):
            async def status(request):
                return web.json_response({"error": {"message": "no listing here"}}, status=models)
            app.router.add_get("/v1/models", status)
        return app

    monkeypatch.setattr(stub_server, "build_app", build_app)
    with StubServer(config or StubConfig()) as url:
        yield url


def root_of(url: str) -> str:
    return url.removesuffix("/v1")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def run_args(data_dir: Path, out: Path, model: str, base_url: str, *extra) -> list[object]:
    return ["run", "--tasks", "gsm8k", "--model", model, "--base-url", base_url, "--data-dir", data_dir,
            "--num-fewshot", "1", "--limit", "2", "--output-dir", out, "--run-name", "r", "--no-cache", *extra]


# -- a base URL without /v1 ---------------------------------------------------------------------


def test_a_base_url_without_v1_is_one_line_naming_the_url_that_answers(monkeypatch, data_dir, tmp_path):
    with stub(monkeypatch) as url:
        root = root_of(url)
        result = invoke(*run_args(data_dir, tmp_path / "out", "openai/stub", root))
    assert result.exit_code != 0
    assert result.stderr == (f"error: --base-url {root} has no OpenAI API at /models; it answers at {root}/v1: "
                             f"pass --base-url {root}/v1\n")
    assert not (tmp_path / "out" / "r").exists()


def test_a_trailing_slash_is_the_same_base_url(monkeypatch):
    with stub(monkeypatch) as url:
        root = root_of(url)
        with pytest.raises(EvalkitError) as caught:
            load_backend("openai/stub", BackendSettings(base_url=root + "/"))
    assert str(caught.value) == (f"--base-url {root} has no OpenAI API at /models; it answers at {root}/v1: "
                                 f"pass --base-url {root}/v1")


def test_a_base_url_without_v1_where_the_key_is_refused_still_points_at_v1(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-secret")
    with stub(monkeypatch, config=StubConfig(require_key="sk-right")) as url:
        root = root_of(url)
        with pytest.raises(EvalkitError) as caught:
            load_backend("openai/stub", BackendSettings(base_url=root))
    assert str(caught.value).endswith(f"pass --base-url {root}/v1")
    assert "sk-" not in str(caught.value)


# -- a model the server does not serve ----------------------------------------------------------


def test_a_model_the_server_does_not_serve_is_one_line_naming_the_one_it_serves(monkeypatch, data_dir, tmp_path):
    with stub(monkeypatch, models=("gemma-3-270m",)) as url:
        result = invoke(*run_args(data_dir, tmp_path / "out", "openai/gemma-3-27m", url))
    assert result.exit_code != 0
    assert result.stderr == (f"error: the server at {url} serves gemma-3-270m, not 'gemma-3-27m': "
                             "pass --model openai/gemma-3-270m\n")
    assert not (tmp_path / "out" / "r").exists()


def test_among_several_served_models_the_closest_is_suggested(monkeypatch):
    with stub(monkeypatch, models=("qwen2.5-0.5b", "gemma-3-270m", "llama-3.2-1b")) as url, \
            pytest.raises(EvalkitError) as caught:
        load_backend("openai/gemma-3-27m", BackendSettings(base_url=url))
    assert str(caught.value) == (f"the server at {url} serves gemma-3-270m, llama-3.2-1b, qwen2.5-0.5b, not "
                                 "'gemma-3-27m': pass --model openai/gemma-3-270m (or another of them)")


def test_a_served_model_passes_and_the_run_completes(monkeypatch, data_dir, tmp_path):
    with stub(monkeypatch, models=("other", "stub")) as url:
        result = invoke(*run_args(data_dir, tmp_path / "out", "openai/stub", url))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "r" / "run.json").exists()


def test_the_check_never_shows_the_api_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    with stub(monkeypatch, config=StubConfig(require_key="sk-secret-value")) as url, \
            pytest.raises(EvalkitError) as caught:
        load_backend("openai/stubb", BackendSettings(base_url=url))
    assert str(caught.value) == f"the server at {url} serves stub, not 'stubb': pass --model openai/stub"


def test_a_long_listing_names_the_closest_and_how_many_more():
    served = sorted(f"model-{i:02d}" for i in range(20)) + ["gpt-4o", "gpt-4o-mini"]
    message = not_served_message("https://api.openai.com/v1", "gpt-4o-mnii", sorted(served), "--model")
    assert message.startswith("the server at https://api.openai.com/v1 serves gpt-4o-mini, gpt-4o, ")
    assert message.endswith(" and 14 more (GET https://api.openai.com/v1/models lists them), not 'gpt-4o-mnii': "
                            "pass --model openai/gpt-4o-mini (or another of them)")
    none_close = not_served_message("http://h/v1", "zzz", ["a", "b"], "--judge")
    assert none_close == "the server at http://h/v1 serves a, b, not 'zzz': pass --judge openai/<one of them>"


@pytest.mark.parametrize(("requested", "served"), [
    ("gemini-2.0-flash", "models/gemini-2.0-flash"),  # Gemini's OpenAI API lists models/NAME
    ("llama3", "llama3:latest"),  # Ollama lists NAME:latest
    ("llama3:latest", "llama3"),
])
def test_spellings_that_reach_the_same_model(requested, served):
    assert _same_model(requested, served)
    assert not _same_model(requested, "something-else")


@pytest.mark.parametrize("body", [b"", b"not json", b'{"object": "list"}', b'{"data": []}', b'[1, 2]',
                                  b'{"data": [{"id": "*"}]}', b'{"data": [{"name": "x"}]}'])
def test_answers_that_list_no_models_do_not_hold_the_run_up(body):
    assert served_models(body) == []


# -- an endpoint without /models ----------------------------------------------------------------


@pytest.mark.parametrize("models", [None, 405, 501, 500])
def test_a_server_without_models_is_not_held_up(monkeypatch, data_dir, tmp_path, models):
    with stub(monkeypatch, models=models) as url:
        result = invoke(*run_args(data_dir, tmp_path / "out", "openai/anything", url))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "r" / "run.json").exists()


def test_a_listing_that_names_no_model_is_not_held_up(monkeypatch):
    with stub(monkeypatch, models=()) as url:
        load_backend("openai/anything", BackendSettings(base_url=url))


# -- the judge ----------------------------------------------------------------------------------


def judge_run_args(data: Path, out: Path, server: str, judge: str, judge_url: str) -> list[object]:
    return ["run", "--tasks", "mt_bench", "--model", "openai/stub", "--base-url", server, "--data-dir", data,
            "--limit", "1", "--output-dir", out, "--run-name", "r", "--no-cache",
            "--judge", judge, "--judge-base-url", judge_url]


def test_a_judge_model_the_server_does_not_serve_names_judge(monkeypatch, tmp_path):
    data = make_mt_bench_data(tmp_path / "data")
    with stub(monkeypatch) as url:
        result = invoke(*judge_run_args(data, tmp_path / "out", url, "openai/stubb", url))
    assert result.exit_code != 0
    assert result.stderr == f"error: judge: the server at {url} serves stub, not 'stubb': pass --judge openai/stub\n"
    assert not (tmp_path / "out" / "r").exists()


def test_a_judge_base_url_without_v1_names_judge_base_url(monkeypatch, tmp_path):
    data = make_mt_bench_data(tmp_path / "data")
    with stub(monkeypatch) as url:
        root = root_of(url)
        result = invoke(*judge_run_args(data, tmp_path / "out", url, "openai/stub", root))
    assert result.exit_code != 0
    assert result.stderr == (f"error: judge: --judge-base-url {root} has no OpenAI API at /models; it answers at "
                             f"{root}/v1: pass --judge-base-url {root}/v1\n")
    assert not (tmp_path / "out" / "r").exists()


# -- 404 during the run -------------------------------------------------------------------------


def generate_once(model: str, base_url: str, flag: str = "--model"):
    backend = load_backend(model, BackendSettings(base_url=base_url, check_server=False), flag=flag)

    async def go():
        try:
            request = Request(kind="completion", prompt="2+2?", params=GenerationParams(max_tokens=4))
            return await backend.generate([request])
        finally:
            await backend.aclose()

    return asyncio.run(go())[0]


@pytest.mark.parametrize(("flag", "option"), [("--model", "--base-url"), ("--judge", "--judge-base-url")])
def test_a_404_says_which_url_answered_it_and_hints_at_v1(monkeypatch, flag, option):
    with stub(monkeypatch) as url:
        root = root_of(url)
        completion = generate_once("openai/stub", root, flag)
    error = completion.error
    assert error is not None and error.kind == "http" and error.status == 404 and not error.retryable
    assert error.message.startswith(f"{root}/completions answered 404 (")
    assert error.message.endswith(f"); {option} {root} has no /v1: if the server's OpenAI API is under /v1, "
                                  f"pass {option} {root}/v1")


def test_a_404_under_v1_names_the_url_without_a_v1_hint(monkeypatch):
    with stub(monkeypatch) as url:
        completion = generate_once("openai/stub", url + "/v1")  # …/v1/v1: nothing there
    assert completion.error is not None
    assert completion.error.message.startswith(f"{url}/v1/completions answered 404 (")
    assert "pass" not in completion.error.message
