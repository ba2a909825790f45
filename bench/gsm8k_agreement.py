"""GSM8K agreement with lm-evaluation-harness: same server, same documents, compared per document.

    python bench/gsm8k_agreement.py --base-url http://127.0.0.1:8090/v1 --model gemma-3-270m \
        --data-dir ../shared/data --limit 20

Runs lm-eval's `gsm8k` (as a local-files variant, offline) with `local-completions`, then
`evalkit run --tasks gsm8k`, against the same OpenAI-compatible server, and compares per document:
the prompt (byte for byte), the raw reply, the strict-match / flexible-extract extractions and the
per-sample exact_match scores. Independently of any reply drift, it also applies evalkit's gsm8k
scorer to lm-eval's own replies and checks it reproduces lm-eval's per-filter extractions and scores.
Writes a markdown report (default bench/results/gsm8k_agreement.md).

The functions here (running each harness, loading and comparing their samples) are also used by
bench/throughput.py and tests/integration/test_lmeval_agreement.py: one copy of the logic.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LMEVAL_TASK = "gsm8k_local"
# lm-eval filter name -> evalkit metric name (both are the same two filters of gsm8k.yaml)
FILTERS = {"strict-match": "strict_match", "flexible-extract": "flexible_extract"}


# --- running the two harnesses ---------------------------------------------------------------


@dataclass(frozen=True)
class HarnessRun:
    """One harness invocation: its wall time (process start to exit) and where its outputs are."""

    wall_s: float
    output: Path  # lm-eval: the samples_*.jsonl file; evalkit: the run folder
    internal_s: float | None = None  # the harness's own timing (lm-eval total_evaluation_time, run.json wall)
    log: str = ""


def lmeval_gsm8k_yaml() -> Path:
    """lm-eval's own gsm8k.yaml inside the installed package (absolute path)."""
    import lm_eval  # only for its location

    path = Path(lm_eval.__file__).resolve().parent / "tasks" / "gsm8k" / "gsm8k.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"lm-eval's gsm8k.yaml is not at {path}")
    return path


def write_lmeval_task(folder: Path, data_dir: Path) -> Path:
    """A local-files variant of lm-eval's gsm8k (see ../shared/recipes/lm-eval-offline.md)."""
    data = data_dir.resolve() / "gsm8k"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{LMEVAL_TASK}.yaml"
    # json.dumps quotes each path as a valid YAML scalar, whatever characters it holds.
    path.write_text(
        f"include: {json.dumps(str(lmeval_gsm8k_yaml()))}\n"
        f"task: {LMEVAL_TASK}\n"
        "dataset_path: json\n"
        "dataset_name: null\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    train: {json.dumps(str(data / 'train.jsonl'))}\n"
        f"    test: {json.dumps(str(data / 'test.jsonl'))}\n",
        encoding="utf-8",
    )
    return path


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.monotonic() - started
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{log[-4000:]}")
    return wall, log


def run_lmeval(
    base_url: str, model: str, data_dir: Path, limit: int | None, workdir: Path, num_concurrent: int = 1
) -> HarnessRun:
    """lm_eval --model local-completions on the local gsm8k variant, offline, with --log_samples."""
    include = workdir / "lmeval_task"
    write_lmeval_task(include, data_dir)
    out = workdir / "lmeval_out"
    model_args = (
        f"model={model},base_url={base_url.rstrip('/')}/completions,num_concurrent={num_concurrent},"
        "max_retries=3,tokenized_requests=False,tokenizer_backend=None"
    )
    cmd = [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args", model_args,
           "--include_path", str(include), "--tasks", LMEVAL_TASK, "--output_path", str(out), "--log_samples"]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(workdir / "hf_datasets_cache")}  # a fresh cache: nothing stale is reused
    wall, log = _run(cmd, env)
    samples = sorted(out.rglob(f"samples_{LMEVAL_TASK}_*.jsonl"))
    results = sorted(out.rglob("results_*.json"))
    if len(samples) != 1:
        raise RuntimeError(f"expected one lm-eval samples file under {out}, found {len(samples)}")
    internal = json.loads(results[-1].read_text()).get("total_evaluation_time_seconds") if results else None
    return HarnessRun(wall, samples[0], float(internal) if internal is not None else None, log)


def run_evalkit(
    base_url: str,
    model: str,
    data_dir: Path,
    limit: int | None,
    workdir: Path,
    *,
    concurrency: int | None = None,
    cache: Path | None = None,
    run_name: str = "evalkit",
) -> HarnessRun:
    """evalkit run --tasks gsm8k (with --no-cache unless a cache file is given)."""
    cmd = [sys.executable, "-m", "evalkit.cli", "run", "--tasks", "gsm8k", "--model", f"openai/{model}",
           "--base-url", base_url, "--data-dir", str(data_dir), "--output-dir", str(workdir), "--run-name", run_name]
    if limit is not None:
        cmd += ["--limit", str(limit)]
    if concurrency is not None:
        cmd += ["--concurrency", str(concurrency)]
    cmd += ["--cache", str(cache)] if cache is not None else ["--no-cache"]
    wall, log = _run(cmd)
    run_dir = workdir / run_name
    manifest = json.loads((run_dir / "run.json").read_text())
    return HarnessRun(wall, run_dir, manifest.get("timings", {}).get("wall_seconds"), log)


# --- loading and comparing per-document results ----------------------------------------------


@dataclass
class DocResult:
    """What one harness did with one document."""

    prompt: str
    reply: str | None
    target: str
    extracted: dict[str, str] = field(default_factory=dict)  # evalkit metric name -> extracted answer
    scores: dict[str, float | None] = field(default_factory=dict)  # evalkit metric name -> exact_match


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    # split on "\n" only: str.splitlines() would also split inside strings holding U+2028 and kin
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def load_lmeval_samples(path: Path) -> dict[int, DocResult]:
    """lm-eval's samples file: one line per document and filter; merged into one result per document."""
    docs: dict[int, DocResult] = {}
    for row in read_jsonl(path):
        doc = docs.setdefault(
            int(row["doc_id"]),
            DocResult(prompt=row["arguments"]["gen_args_0"]["arg_0"], reply=row["resps"][0][0], target=row["target"]),
        )
        metric = FILTERS[row["filter"]]
        filtered = row["filtered_resps"]
        doc.extracted[metric] = filtered[0] if isinstance(filtered, list) else filtered
        doc.scores[metric] = float(row["exact_match"])
    return docs


def load_evalkit_records(run_dir: Path) -> dict[int, DocResult]:
    from evalkit.store import RunResult

    docs = {}
    for r in RunResult.read(run_dir).records:
        docs[int(r.sample_id)] = DocResult(
            prompt=r.prompt or "", reply=r.outputs[0] if r.outputs else None, target=r.target or "",
            extracted={m: r.details.get(m) for m in FILTERS.values()},
            scores={m: r.scores.get(m) for m in FILTERS.values()},
        )
    return docs


@dataclass
class DocComparison:
    doc_id: int
    prompt_same: bool
    reply_same: bool
    extracted_same: dict[str, bool]
    score_same: dict[str, bool]
    lmeval: DocResult
    evalkit: DocResult


@dataclass
class Agreement:
    docs: list[DocComparison]
    missing: list[int]  # documents only one harness has

    def count(self, what: str, metric: str | None = None) -> int:
        if metric is None:
            return sum(getattr(d, what) for d in self.docs)
        return sum(getattr(d, what)[metric] for d in self.docs)

    @property
    def identical_prompts_and_scores(self) -> bool:
        n = len(self.docs)
        return not self.missing and n > 0 and self.count("prompt_same") == n and all(
            self.count("score_same", m) == n for m in FILTERS.values()
        )


def compare(lmeval: dict[int, DocResult], evalkit: dict[int, DocResult]) -> Agreement:
    docs = []
    for doc_id in sorted(lmeval.keys() & evalkit.keys()):
        a, b = lmeval[doc_id], evalkit[doc_id]
        docs.append(DocComparison(
            doc_id=doc_id,
            prompt_same=a.prompt == b.prompt,
            reply_same=a.reply == b.reply,
            extracted_same={m: a.extracted.get(m) == b.extracted.get(m) for m in FILTERS.values()},
            score_same={m: a.scores.get(m) == b.scores.get(m) for m in FILTERS.values()},
            lmeval=a,
            evalkit=b,
        ))
    return Agreement(docs, sorted(lmeval.keys() ^ evalkit.keys()))


@dataclass
class RescoreCheck:
    """evalkit's scorer applied to lm-eval's own replies, against lm-eval's own verdicts."""

    n: int
    same_target: int
    same_extracted: dict[str, int]
    same_score: dict[str, int]
    mismatches: list[str]

    @property
    def exact(self) -> bool:
        return not self.mismatches


def rescore_lmeval_replies(lmeval: dict[int, DocResult], data_dir: Path) -> RescoreCheck:
    """Score lm-eval's raw replies with evalkit's gsm8k task (tasks/gsm8k.py MathScorer)."""
    from evalkit.registry import TaskOptions, build_task

    task = build_task("gsm8k", TaskOptions(data_dir=data_dir))
    samples = task.load().samples
    n, same_target = 0, 0
    same_extracted = {m: 0 for m in FILTERS.values()}
    same_score = {m: 0 for m in FILTERS.values()}
    mismatches = []
    for doc_id, doc in sorted(lmeval.items()):
        sample = samples[doc_id]
        n += 1
        same_target += sample.target == doc.target
        score = task.scorer.score([(sample, [doc.reply or ""])])[0]
        for m in FILTERS.values():
            if score.details[m] == doc.extracted[m]:
                same_extracted[m] += 1
            else:
                mismatches.append(
                    f"doc {doc_id} {m}: evalkit extracted {score.details[m]!r}, lm-eval {doc.extracted[m]!r}"
                )
            if score.metrics[m] == doc.scores[m]:
                same_score[m] += 1
            else:
                mismatches.append(f"doc {doc_id} {m}: evalkit scored {score.metrics[m]}, lm-eval {doc.scores[m]}")
        if sample.target != doc.target:
            mismatches.append(f"doc {doc_id}: targets differ")
    return RescoreCheck(n, same_target, same_extracted, same_score, mismatches)


# --- reporting -------------------------------------------------------------------------------


def _short(text: str | None, width: int = 28) -> str:
    text = "None" if text is None else " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def first_difference(a: str, b: str, show: bool = True) -> str:
    """Where two strings part, for a one-line diagnosis (`show=False`: the offset only, no text)."""
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    where = f"at char {i} (lengths {len(a)} / {len(b)})"
    return f"{where}: lm-eval {a[max(0, i - 20): i + 20]!r} vs evalkit {b[max(0, i - 20): i + 20]!r}" if show else where


def per_doc_table(agreement: Agreement) -> list[str]:
    """A markdown table, one row per document."""
    yes = {True: "✓", False: "✗"}
    lines = [
        "| doc | prompt | reply | strict: lm-eval / evalkit | em | flexible: lm-eval / evalkit | em |",
        "|---:|:---:|:---:|---|:---:|---|:---:|",
    ]
    for d in agreement.docs:
        cells = [str(d.doc_id), yes[d.prompt_same], yes[d.reply_same]]
        for m in FILTERS.values():
            cells.append(
                f"`{_short(d.lmeval.extracted.get(m), 14)}` {_score(d.lmeval.scores.get(m))} / "
                f"`{_short(d.evalkit.extracted.get(m), 14)}` {_score(d.evalkit.scores.get(m))}"
            )
            cells.append(yes[d.extracted_same[m] and d.score_same[m]])
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def summary_lines(agreement: Agreement, rescore: RescoreCheck, lm: HarnessRun, ek: HarnessRun) -> list[str]:
    n = len(agreement.docs)
    lines = [
        f"| documents compared | {n} |",
        f"| prompts byte-identical | {agreement.count('prompt_same')}/{n} |",
        f"| raw replies identical | {agreement.count('reply_same')}/{n} |",
    ]
    for lm_name, m in FILTERS.items():
        lines.append(f"| {lm_name} extracted answer identical | {agreement.count('extracted_same', m)}/{n} |")
        lines.append(f"| {lm_name} exact_match identical | {agreement.count('score_same', m)}/{n} |")
    for lm_name, m in FILTERS.items():
        lines.append(
            f"| evalkit scorer on lm-eval's replies: {lm_name} extraction / score | "
            f"{rescore.same_extracted[m]}/{rescore.n} / {rescore.same_score[m]}/{rescore.n} |"
        )
    lines.append(f"| targets identical (evalkit sample vs lm-eval doc) | {rescore.same_target}/{rescore.n} |")
    for lm_name, m in FILTERS.items():
        lines.append(
            f"| mean {lm_name}: lm-eval / evalkit | {_mean([d.lmeval.scores[m] for d in agreement.docs]):.4f} / "
            f"{_mean([d.evalkit.scores[m] for d in agreement.docs]):.4f} |"
        )
    lines.append(f"| lm-eval wall time (process; own timer) | {lm.wall_s:.1f} s; {_fmt(lm.internal_s)} |")
    lines.append(f"| evalkit wall time (process; run.json) | {ek.wall_s:.1f} s; {_fmt(ek.internal_s)} |")
    return ["| figure | value |", "|---|---|", *lines]


def _mean(values: list[float | None]) -> float:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else float("nan")


def _fmt(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds:.1f} s"


def differences(agreement: Agreement, rescore: RescoreCheck | None = None, show_text: bool = True) -> list[str]:
    """Every disagreement, one line each. The report is committed, so it passes show_text=False:
    prompts (and replies that echo them) hold benchmark text, which never goes into the repository."""
    out = [f"doc {i}: present in only one harness" for i in agreement.missing]
    for d in agreement.docs:
        if not d.prompt_same:
            prompts = first_difference(d.lmeval.prompt, d.evalkit.prompt, show_text)
            out.append(f"doc {d.doc_id}: prompts differ {prompts}")
        if not d.reply_same:
            replies = first_difference(d.lmeval.reply or "", d.evalkit.reply or "", show_text)
            out.append(f"doc {d.doc_id}: replies differ {replies}")
        for m in FILTERS.values():
            if not d.extracted_same[m] or not d.score_same[m]:
                out.append(
                    f"doc {d.doc_id} {m}: lm-eval {d.lmeval.extracted.get(m)!r} -> {d.lmeval.scores.get(m)}, "
                    f"evalkit {d.evalkit.extracted.get(m)!r} -> {d.evalkit.scores.get(m)}"
                    + ("" if d.reply_same else " (different replies)")
                )
    return out + [f"rescore: {m}" for m in (rescore.mismatches if rescore else [])]


def render_report(args: argparse.Namespace, agreement: Agreement, rescore: RescoreCheck, lm: HarnessRun,
                  ek: HarnessRun) -> str:
    diffs = differences(agreement, rescore, show_text=False)
    verdict = (
        "**Agree**: identical prompts and identical per-sample scores on every document"
        if agreement.identical_prompts_and_scores and rescore.exact
        else "**Disagree**: see the differences below"
    )
    lines = [
        "# GSM8K agreement: evalkit vs lm-evaluation-harness",
        "",
        f"Generated by `python bench/gsm8k_agreement.py --limit {args.limit}` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"lm-eval {_version('lm_eval')}, evalkit {_version('evalkit')} at `{source_state()}`).",
        "",
        f"Server: `{args.base_url}`, model `{args.model}`. lm-eval: `local-completions`, `num_concurrent=1`, "
        f"`tokenized_requests=False`, the gsm8k task as a local-files variant (`{LMEVAL_TASK}`). evalkit: "
        "`evalkit run --tasks gsm8k --no-cache`. Both send the same request body (lm-eval's "
        "`LocalCompletionsAPI._create_payload`, evalkit's OpenAI backend): the prompt as one string, max_tokens 256, "
        "temperature 0, stop `Question:` `</s>` `<|im_end|>`, seed 1234.",
        "",
        "Wall times here measure the server more than the harnesses: one llama.cpp slot answers one request at "
        "a time (evalkit queues up to its --concurrency, lm-eval sends one), and the server is shared with "
        "anything else that calls it meanwhile. Harness overhead is measured in bench/results/throughput.md.",
        "",
        verdict + ".",
        "",
        "## Figures",
        "",
        *summary_lines(agreement, rescore, lm, ek),
        "",
        "## Per document",
        "",
        *per_doc_table(agreement),
        "",
        "## Differences",
        "",
        *([f"- {d}" for d in diffs] or ["None."]),
        "",
    ]
    return "\n".join(lines)


def source_state() -> str:
    """The evalkit checkout measured: commit, and whether the working tree had changes."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist.replace("_", "-"))
    except PackageNotFoundError:
        return "?"


def run_agreement(base_url: str, model: str, data_dir: Path, limit: int, workdir: Path,
                  evalkit_concurrency: int | None = None) -> tuple[Agreement, RescoreCheck, HarnessRun, HarnessRun]:
    """Both harnesses, then the comparisons: what the bench and the integration test share."""
    lm = run_lmeval(base_url, model, data_dir, limit, workdir)
    ek = run_evalkit(base_url, model, data_dir, limit, workdir, concurrency=evalkit_concurrency)
    lm_docs = load_lmeval_samples(lm.output)
    agreement = compare(lm_docs, load_evalkit_records(ek.output))
    return agreement, rescore_lmeval_replies(lm_docs, data_dir), lm, ek


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8090/v1", help="OpenAI-compatible endpoint (…/v1)")
    parser.add_argument("--model", default="gemma-3-270m", help="the model name the server answers to")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=20)
    # 1, like lm-eval's num_concurrent=1 (llama.cpp's reply can depend on the previous prompt in its KV cache).
    parser.add_argument("--evalkit-concurrency", type=int, default=1, help="evalkit --concurrency (default 1)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gsm8k_agreement.md")
    parser.add_argument("--keep", type=Path, default=None, help="keep both harnesses' outputs in this folder")
    args = parser.parse_args(argv)
    args.data_dir = args.data_dir.resolve()

    with tempfile.TemporaryDirectory(prefix="gsm8k_agreement_") as tmp:
        workdir = (args.keep or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"running lm-eval then evalkit on {args.limit} documents against {args.base_url} …", flush=True)
        agreement, rescore, lm, ek = run_agreement(
            args.base_url, args.model, args.data_dir, args.limit, workdir, args.evalkit_concurrency
        )
    report = render_report(args, agreement, rescore, lm, ek)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print("\n".join(summary_lines(agreement, rescore, lm, ek)))
    print()
    print("\n".join(per_doc_table(agreement)))
    diffs = differences(agreement, rescore)
    print("\ndifferences:" if diffs else "\nno differences", *diffs, sep="\n")
    print(f"\nreport: {args.out}")
    return 0 if agreement.identical_prompts_and_scores and rescore.exact else 1


if __name__ == "__main__":
    sys.exit(main())
