"""evalkit's gsm8k agrees with lm-eval's on a real server: identical prompts, extractions and scores.

Opt-in (EVALKIT_INTEGRATION=1): needs lm-eval, the local llama.cpp server (EVALKIT_TEST_BASE_URL,
default http://127.0.0.1:8090/v1; model EVALKIT_TEST_MODEL, default gemma-3-270m) and the data folder
(EVALKIT_DATA_DIR, default ../shared/data). About a minute per document on 2 cores, both harnesses.
The comparison logic is bench/gsm8k_agreement.py's, loaded by path: one copy of it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from tests.cli_process import server_answers

REPO = Path(__file__).resolve().parents[2]
BASE_URL = os.environ.get("EVALKIT_TEST_BASE_URL", "http://127.0.0.1:8090/v1").rstrip("/")
MODEL = os.environ.get("EVALKIT_TEST_MODEL", "gemma-3-270m")
DATA_DIR = Path(os.environ.get("EVALKIT_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
LIMIT = 5

pytestmark = pytest.mark.integration


def _skip_reason() -> str | None:
    if os.environ.get("EVALKIT_INTEGRATION") != "1":
        return "opt-in: set EVALKIT_INTEGRATION=1"
    if importlib.util.find_spec("lm_eval") is None:
        return "lm_eval is not installed (pip install 'lm-eval[api]==0.4.13')"
    if not (DATA_DIR / "gsm8k" / "test.jsonl").is_file():
        return f"no GSM8K data in {DATA_DIR} (set EVALKIT_DATA_DIR)"
    if not server_answers(BASE_URL):
        return f"no OpenAI-compatible server answers {BASE_URL}/models (set EVALKIT_TEST_BASE_URL)"
    return None


def load_bench_module():
    path = REPO / "bench" / "gsm8k_agreement.py"
    spec = importlib.util.spec_from_file_location("gsm8k_agreement", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def agreement(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    bench = load_bench_module()
    workdir = tmp_path_factory.mktemp("agreement")
    # One request at a time, like lm-eval's num_concurrent=1.
    agreement, rescore, _, _ = bench.run_agreement(BASE_URL, MODEL, DATA_DIR, LIMIT, workdir, evalkit_concurrency=1)
    return bench, agreement, rescore


def test_every_document_is_compared(agreement):
    _, result, _ = agreement
    assert result.missing == []
    assert [d.doc_id for d in result.docs] == list(range(LIMIT))


def test_prompts_are_byte_identical(agreement):
    bench, result, _ = agreement
    differing = [f"doc {d.doc_id}: {bench.first_difference(d.lmeval.prompt, d.evalkit.prompt)}"
                 for d in result.docs if not d.prompt_same]
    assert differing == []


def test_evalkit_scorer_reproduces_lmeval_on_lmevals_replies(agreement):
    _, _, rescore = agreement
    assert rescore.n == LIMIT
    assert rescore.mismatches == []


def test_per_sample_scores_are_identical_wherever_the_server_replied_the_same(agreement):
    """Same reply, same extractions and scores, on every such document.

    llama.cpp reuses the previous prompt's KV cache, and lm-eval sends its requests longest first
    while evalkit sends them in document order, so a greedy reply can differ by a token between the
    two runs. At most one document in LIMIT may drift that way; on it, evalkit's scorer applied to
    lm-eval's own reply gives lm-eval's score (test_evalkit_scorer_reproduces_lmeval_on_lmevals_replies).
    """
    bench, result, _ = agreement
    drift = [d.doc_id for d in result.docs if not d.reply_same]
    assert len(drift) <= 1, f"server replies drifted on docs {drift}"
    differing = [line for line in bench.differences(result)
                 if "prompts differ" not in line and "replies differ" not in line and "(different replies)" not in line]
    assert differing == [], "scoring differs on the same replies"


def test_evalkit_import_of_lmevals_folder_shows_lmevals_numbers(agreement, tmp_path, tmp_path_factory):
    """`evalkit import lm-eval` of the folder lm_eval wrote above: `evalkit show` gives its figures."""
    from click.testing import CliRunner

    from evalkit.cli import cli

    lm_out = sorted(tmp_path_factory.getbasetemp().glob("agreement*/lmeval_out"))[-1]  # the fixture's workdir
    imported = CliRunner().invoke(cli, ["import", "lm-eval", str(lm_out), "--output-dir", str(tmp_path / "runs")])
    assert imported.exit_code == 0, imported.stderr
    (run_dir,) = list((tmp_path / "runs").iterdir())
    shown = json.loads(CliRunner().invoke(cli, ["show", str(run_dir), "--format", "json"]).stdout)
    (results_file,) = sorted(lm_out.rglob("results_*.json"))
    lmeval = json.loads(results_file.read_text())["results"]
    (task,) = lmeval
    rows = {(r["genre"], r["metric"]): r["value"] for r in shown["summary"] if r["task"] == f"lm_eval:{task}"}
    for key in ("exact_match,strict-match", "exact_match,flexible-extract"):
        assert rows[("all", key)] == pytest.approx(lmeval[task][key])
