"""Contamination scan throughput and memory: evalkit against lm-evaluation-harness's decontamination code.

    python bench/contamination_speed.py --data-dir ../shared/data [--gb 1.0] [--workers 2] [--work DIR]
        [--out bench/results/contamination_speed.md]

The corpus: JSON lines generated from the real text of ../shared/data (contamination_corpus.py's
background: MT-Bench and Japanese MT-Bench model answers, judge explanations, Wikipedia Annotated
Corpus documents), `--gb` of it, with 200 benchmark items planted; prefixes of a quarter and a half of
it show how time and memory grow. The items: every task with local data but MT-Bench (Jaster, GSM8K,
MGSM-ja, HumanEval, JHumanEval).

Measured, each as a fresh process on the same files, wall time and the peak memory of the process
and its workers together (sampled every 0.1 s), as proportional set size: forked workers share the
parent's pages, and resident sizes would count those once per process.

1. `evalkit contamination scan` as a user runs it (`--workers`, default tokenizer: words and
   Japanese characters), on each prefix;
2. the same with `--tokenizer lm-eval` (lm-eval's normalisation and 13 words), on the whole corpus;
3. lm-eval: its own `Janitor.normalize_string` and `word_ngrams` over every document, each n-gram
   looked up in the item n-gram table that `get_train_overlap` builds, in `--workers` processes over
   line-aligned halves of the file. (lm-eval's own pipeline first writes every 13-gram of the corpus
   to disk and sorts them before that lookup; streaming is the faster way to run its code.)

2 and 3 must flag the same items; the report says whether they do.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contamination_corpus import background, make_plants, write_corpus  # noqa: E402

TASKS = "jaster,gsm8k,mgsm_ja,humaneval,jhumaneval"
ROOT = Path(__file__).resolve().parent.parent


def _memory(processes) -> float:
    """MB of proportional set size (resident size where the system has no PSS) of the living processes."""
    total = 0
    for p in processes:
        try:
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return total / 1e6


def measured(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(seconds, peak MB of the process tree, stdout) of a command."""
    started = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0.0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, _memory([process, *process.children(recursive=True)]))
            except psutil.Error:
                pass
            time.sleep(0.1)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = process.communicate()
    done.set()
    watcher.join()
    seconds = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{err[-3000:]}")
    return seconds, peak, out


def prefix(source: Path, target: Path, size: int) -> int:
    """The first lines of `source` up to about `size` bytes."""
    with source.open("rb") as src, target.open("wb") as dst:
        written = 0
        for line in src:
            if written >= size:
                break
            dst.write(line)
            written += len(line)
    return written


# --- lm-eval's code, run as a worker process -----------------------------------------------------


def lm_eval_worker(items_path: str, corpus: str, start: int, end: int) -> None:
    """Scan bytes [start, end) of the corpus (whole lines) with lm-eval's functions; print flagged item ids."""
    from collections import defaultdict

    from lm_eval.decontamination.janitor import Janitor, word_ngrams

    janitor = Janitor()
    lookup = defaultdict(set)  # as get_train_overlap builds it: n-gram -> item ids
    for i, line in enumerate(open(items_path, encoding="utf-8")):
        for gram in word_ngrams(janitor.normalize_string(json.loads(line)["text"]), 13):
            lookup[gram].add(i)
    flagged: set[int] = set()
    with open(corpus, "rb") as fh:
        if start:
            fh.seek(start - 1)
            if fh.read(1) != b"\n":
                fh.readline()
        while fh.tell() < end:
            line = fh.readline()
            if not line:
                break
            for gram in word_ngrams(janitor.normalize_string(json.loads(line)["text"]), 13):
                found = lookup.get(gram)
                if found:
                    flagged.update(found)
    print(json.dumps(sorted(flagged)))


def lm_eval_scan(items_path: Path, corpus: Path, workers: int) -> tuple[float, float, set[int]]:
    size = corpus.stat().st_size
    cuts = [size * k // workers for k in range(workers + 1)]
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import contamination_speed as b; "
            "b.lm_eval_worker(*sys.argv[1:3], int(sys.argv[3]), int(sys.argv[4]))")
    started = time.perf_counter()
    processes = [psutil.Popen([sys.executable, "-c", code, str(items_path), str(corpus), str(cuts[k]), str(cuts[k + 1])],
                              stdout=subprocess.PIPE, text=True) for k in range(workers)]
    peak = 0.0
    while any(p.poll() is None for p in processes):
        peak = max(peak, _memory([p for p in processes if p.poll() is None]))
        time.sleep(0.1)
    flagged: set[int] = set()
    for p in processes:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit("the lm-eval worker failed")
        flagged.update(json.loads(out.strip().splitlines()[-1]))  # lm-eval prints a warning line first
    return time.perf_counter() - started, peak, flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=None, help="Where to write the corpora (default: a temporary folder).")
    parser.add_argument("--out", type=Path, default=Path("bench/results/contamination_speed.md"))
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="evalkit-contamination-"))
    work.mkdir(parents=True, exist_ok=True)
    data = args.data_dir.resolve()
    evalkit = [sys.executable, "-m", "evalkit.cli"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    from evalkit.contamination.check import CheckSettings, task_segments

    segments = task_segments(CheckSettings(tasks=TASKS.split(","), corpora=[], data_dir=data))
    answers = {(s.task, s.sample_id): s.text for s in segments if s.part == "answer"}
    inputs = [(s.task, s.sample_id, s.text, answers.get((s.task, s.sample_id))) for s in segments if s.part == "input"]
    plants = make_plants(inputs, 50, random.Random(5))
    full = work / "corpus.jsonl"
    if not full.exists() or full.stat().st_size < args.gb * 1e9 * 0.99:
        started = time.perf_counter()
        paragraphs = [p for source in background(data).values() for p in source]
        write_corpus(full, int(args.gb * 1e9), paragraphs, plants, seed=1)
        print(f"wrote {full} ({full.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - started:.0f}s", flush=True)
    corpora = []
    for share in (0.25, 0.5):
        part = work / f"corpus-{share}.jsonl"
        if not part.exists():
            prefix(full, part, int(full.stat().st_size * share))
        corpora.append(part)
    corpora.append(full)

    rows = []
    for corpus in corpora:
        out = work / f"report-{corpus.stem}"
        seconds, peak, _ = measured([*evalkit, "contamination", "scan", "--tasks", TASKS, "--data-dir", str(data),
                                     "--corpus", str(corpus), "--workers", str(args.workers), "-o", str(out)], env)
        flagged = sum(1 for _ in open(out / "contaminated.jsonl"))
        scan_seconds = json.loads((out / "scan.json").read_text())["seconds"]
        size = corpus.stat().st_size / 1e6
        rows.append(("evalkit (words + Japanese characters)", corpus.name, size, seconds, scan_seconds, peak, flagged))
        print(rows[-1], flush=True)

    lm_out = work / "report-lm-eval-tokenizer"
    seconds, peak, _ = measured([*evalkit, "contamination", "scan", "--tasks", TASKS, "--data-dir", str(data),
                                 "--corpus", str(full), "--workers", str(args.workers), "--tokenizer", "lm-eval",
                                 "-o", str(lm_out)], env)
    ours = {(r["task"], r["sample_id"]) for r in map(json.loads, open(lm_out / "contaminated.jsonl"))
            if "input" in r["parts"]}
    rows.append(("evalkit --tokenizer lm-eval", full.name, full.stat().st_size / 1e6, seconds,
                 json.loads((lm_out / "scan.json").read_text())["seconds"], peak, len(ours)))
    print(rows[-1], flush=True)

    items_path = work / "items.jsonl"
    keys = [(s.task, s.sample_id) for s in segments if s.part == "input"]
    items_path.write_text("".join(json.dumps({"text": s.text}) + "\n" for s in segments if s.part == "input"))
    seconds, peak, flagged_ids = lm_eval_scan(items_path, full, args.workers)
    theirs = {keys[i] for i in flagged_ids}
    rows.append(("lm-eval Janitor + word_ngrams + lookup", full.name, full.stat().st_size / 1e6, seconds, seconds, peak,
                 len(theirs)))
    print(rows[-1], flush=True)

    lines = ["# Contamination scan: throughput and memory\n",
             f"`python bench/contamination_speed.py --gb {args.gb:g} --workers {args.workers}` on "
             f"{os.cpu_count()} cores ({time.strftime('%Y-%m-%d')}). Items: {len(keys)} inputs and their answers "
             f"of {TASKS}. Corpus: JSON lines generated from the real text of ../shared/data, "
             f"{len(plants)} items planted.\n",
             "| scanner | corpus | MB | wall s | scan s | MB/s (wall) | MB/s (scan) | peak memory MB (PSS) | items flagged |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, corpus_name, size, wall, scan_s, peak, flagged in rows:
        lines.append(f"| {name} | {corpus_name} | {size:,.0f} | {wall:.1f} | {scan_s:.1f} | {size / wall:.1f} | "
                     f"{size / scan_s:.1f} | {peak:,.0f} | {flagged} |")
    lines.append("")
    lines.append("wall: the whole process (start-up, loading the tasks, indexing, scanning, writing the report); scan: "
                 "evalkit's own timing in scan.json (indexing and scanning). lm-eval flags by inputs only, so the "
                 "lm-eval-tokenizer row counts items whose input was flagged.\n")
    lines.append(f"Verdicts, lm-eval tokenizer vs lm-eval's code, on item inputs: {len(ours)} and {len(theirs)} items "
                 f"flagged, {len(ours & theirs)} by both, "
                 + ("identical." if ours == theirs else f"different: only evalkit {sorted(ours - theirs)[:10]}, "
                                                        f"only lm-eval {sorted(theirs - ours)[:10]}."))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
