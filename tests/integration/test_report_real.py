"""The report over a real run: replayed gold answers, a degraded replay, and Gemma 3 270M on the local
llama.cpp server, on real GSM8K and Jaster data; opened in Chromium; compared and gated.

Opt-in (EVALKIT_INTEGRATION=1): needs the server (EVALKIT_TEST_BASE_URL), the data folder
(EVALKIT_DATA_DIR) and, for the browser part, Debian's Chromium. About a minute of generation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli_process import run_evalkit
from tests.cli_process import server_answers
from tests.integration.test_lmeval_agreement import BASE_URL, DATA_DIR, MODEL
from tests.report_runs import INJECTED

pytestmark = pytest.mark.integration
TASKS = ("--tasks", "gsm8k,jaster:NLI", "--limit", "2", "-T", "max_samples=2", "--data-dir", DATA_DIR)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    if os.environ.get("EVALKIT_INTEGRATION") != "1":
        pytest.skip("opt-in: set EVALKIT_INTEGRATION=1")
    if not (DATA_DIR / "jaster").is_dir() or not server_answers(BASE_URL):
        pytest.skip(f"needs {DATA_DIR} and a server at {BASE_URL}")
    tmp = tmp_path_factory.mktemp("real")
    prompts = tmp / "prompts.jsonl"
    assert run_evalkit("dump", *TASKS, "-o", prompts, cwd=tmp).returncode == 0
    rows = [json.loads(line) for line in prompts.read_text(encoding="utf-8").splitlines()]
    for name, reply in [("gold", lambda r, i: r["target"]),
                        ("degraded", lambda r, i: f"答えは{r['target']}です。{INJECTED}" if i % 2 else r["target"])]:
        replay = tmp / f"{name}.jsonl"
        replay.write_text("".join(json.dumps({"task": r["task"], "sample_id": r["sample_id"], "output": reply(r, i)},
                                             ensure_ascii=False) + "\n" for i, r in enumerate(rows)), encoding="utf-8")
        result = run_evalkit("run", *TASKS, "--model", f"replay/{replay}", "--output-dir", tmp, "--run-name", name,
                             "--no-cache", cwd=tmp)
        assert result.returncode == 0, result.stderr
    result = run_evalkit("run", *TASKS, "--model", f"openai/{MODEL}", "--base-url", BASE_URL, "--output-dir", tmp,
                         "--run-name", "real", "--no-cache", "--concurrency", "1", cwd=tmp)
    assert result.returncode == 0, result.stderr
    return [tmp / "gold", tmp / "degraded", tmp / "real"]


def test_show_compare_and_gate_a_real_run(runs, tmp_path):
    assert run_evalkit("show", runs[2], "--format", "md", cwd=tmp_path).returncode == 0
    compared = json.loads(run_evalkit("compare", *runs, "--format", "json", cwd=tmp_path).stdout)
    assert {row["candidate"] for row in compared["rows"]} == {"B", "C"}
    gated = run_evalkit("gate", "--baseline", runs[2], "--candidate", runs[2], cwd=tmp_path)
    assert gated.returncode == 0, gated.stdout


def test_the_report_of_a_real_run_opens_in_chromium(runs, tmp_path):
    from tests.test_report import CHROMIUM, Page

    if CHROMIUM is None:
        pytest.skip("Chromium is not installed here")
    report = tmp_path / "report.html"
    assert run_evalkit("report", *runs, "-o", report, cwd=tmp_path).returncode == 0
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = Page(browser, report)
        assert page.errors == [] and page.requests == [page.page.url]
        assert page.count() == "12 of 12 samples"
        page.page.fill("#filter-text", "__evalkit_pwned")
        page.page.click("#sample-rows tr >> nth=0")
        assert len(page.page.locator("#sample-detail pre.output").all_text_contents()) == 3
        assert page.page.evaluate("window.__evalkit_pwned") is None
        browser.close()
