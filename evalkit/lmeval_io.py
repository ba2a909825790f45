"""`evalkit import lm-eval RESULTS_DIR`: an lm-evaluation-harness output folder as evalkit runs.

lm-eval (`--output_path OUT --log_samples`) writes, per model, `results_<time>.json` (the aggregate
metrics of each task, its config, version and sample counts) and one `samples_<task>_<time>.jsonl`
per task: a line per document, or per document and filter, with the document id, the rendered
request (`arguments`), the raw replies (`resps`), the filtered answers and each metric's value.

Each results file becomes one run (a folder named after it) whose tasks are `lm_eval:<task>`:
- a record per document, its outputs the raw replies (a log-likelihood task's as Loglikelihoods, as
  the lm_eval: bridge stores them), its prompt the first request's context, and a
  score per lm-eval metric key, named as lm-eval names it (`exact_match,strict-match`);
- the strict metric is the task's first metric key; when its metric is computed under a second
  filter (gsm8k's `flexible-extract`), that is the lenient one;
- summary rows are the per-document means, which are what lm-eval reports for per-document metrics;
  its own aggregate figures are kept in run.json (`origin.results`) beside them.
So old lm-eval results show up in `show`, `compare`, `report` and `gate` like any run.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

from evalkit import __version__
from evalkit.data import file_sha256, iter_jsonl
from evalkit.errors import EvalkitError
from evalkit.manifest import RunManifest, TaskInfo, now_iso
from evalkit.outcome import RunOutcome, finish_run
from evalkit.records import SampleRecord, sample_order
from evalkit.spec import RunSpec
from evalkit.store import RunStore
from evalkit.types import Loglikelihood, Reply

TASK_PREFIX = "lm_eval:"
_RESULTS = re.compile(r"^results_(.+)\.json$")


def results_files(root: Path) -> list[Path]:
    """Every results_*.json under ROOT (lm-eval nests them in a folder per model)."""
    if not root.is_dir():
        raise EvalkitError(f"{root} is not a folder (lm-eval's --output_path)")
    found = sorted(p for p in root.rglob("results_*.json") if p.is_file())
    if not found:
        raise EvalkitError(f"{root} holds no results_*.json: not an lm-eval --output_path folder")
    return found


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalkitError(f"{path}: not readable lm-eval JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise EvalkitError(f"{path}: expected lm-eval's results file, an object with 'results'")
    return data


def _sample_lines(path: Path) -> Iterator[dict[str, Any]]:
    for lineno, row in iter_jsonl(path):
        if "doc_id" not in row:
            raise EvalkitError(f"{path}:{lineno}: expected an lm-eval sample with doc_id")
        yield row


def _metric_keys(task_results: dict[str, Any]) -> list[str]:
    """`metric,filter` keys of one task's results, stderr and alias left out, in lm-eval's order."""
    return [k for k, v in task_results.items()
            if "," in k and "_stderr," not in k and isinstance(v, (int, float)) and not isinstance(v, bool)]


LOGLIKELIHOOD_TYPES = ("multiple_choice", "loglikelihood", "loglikelihood_rolling")


def _replies(value: Any, output_type: str | None) -> list[Reply]:
    """The replies in a `resps` entry, one list per request: generated texts ([[text]], several with
    `repeats`), or for a log-likelihood task [[log p, is greedy]] (rolling: [[log p]]) as Loglikelihoods,
    as evalkit's lm_eval: bridge stores them; any other shape as its JSON text."""
    requests = value if isinstance(value, list) else [value]
    out: list[Reply] = []
    for request in requests:
        for resp in request if isinstance(request, list) else [request]:
            out.append(_reply(resp, output_type))
    return out


def _reply(resp: Any, output_type: str | None) -> Reply:
    if output_type in LOGLIKELIHOOD_TYPES:
        pair = resp if isinstance(resp, list) else [resp]
        try:
            greedy = len(pair) > 1 and str(pair[1]) == "True"
            return Loglikelihood(float(pair[0]), greedy)
        except (TypeError, ValueError, IndexError):
            pass
    return resp if isinstance(resp, str) else json.dumps(resp)


def _prompt(row: dict[str, Any]) -> str | None:
    args = row.get("arguments")
    if isinstance(args, dict) and args:
        first = next(iter(args.values()))
        if isinstance(first, dict) and isinstance(first.get("arg_0"), str):
            return first["arg_0"]
    return None


INVALID = "[invalid]"  # what lm-eval's regex filters answer when they find nothing


def strict_answer(filtered: Any, output_type: str | None) -> tuple[str | None, bool | None]:
    """A generated reply's answer under the strict filter, and whether that filter found one (lm-eval's
    regex filters answer `[invalid]` when not): the format violation, read the same way here and by the
    lm_eval: bridge's scorer."""
    while isinstance(filtered, list) and filtered:
        filtered = filtered[0]
    if output_type != "generate_until" or not isinstance(filtered, str):
        return None, None
    return filtered, filtered != INVALID


def task_records(task: str, path: Path, keys: list[str], output_type: str | None = None) -> list[SampleRecord]:
    """One record per document: every metric key's value, from the line of its filter."""
    by_doc: dict[str, dict[str, Any]] = defaultdict(dict)
    scores: dict[str, dict[str, float | None]] = defaultdict(dict)
    filtered: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in _sample_lines(path):
        doc = str(row["doc_id"])
        by_doc[doc].setdefault("row", row)
        filter_name = row.get("filter", "none")
        filtered[doc][filter_name] = row.get("filtered_resps")
        for metric in row.get("metrics") or []:
            value = row.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                scores[doc][f"{metric},{filter_name}"] = float(value)
    strict_filter = keys[0].partition(",")[2] if keys else None
    records = []
    for doc in sorted(by_doc, key=sample_order):
        row = by_doc[doc]["row"]
        answer, format_ok = strict_answer(filtered[doc].get(strict_filter), output_type)
        records.append(SampleRecord(
            task=f"{TASK_PREFIX}{task}", sample_id=doc, genre=task, prompt=_prompt(row),
            outputs=_replies(row.get("resps"), output_type), target=None if row.get("target") is None else str(row["target"]),
            scores={key: scores[doc].get(key) for key in keys},
            answer=answer, format_ok=format_ok, details={"source": "lm-eval", "filtered_resps": filtered[doc]},
        ))
    return records


def _samples_file(results: Path, task: str) -> Path | None:
    stamp = _RESULTS.match(results.name)
    candidates = sorted(results.parent.glob(f"samples_{task}_{stamp.group(1) if stamp else '*'}.jsonl"))
    return candidates[-1] if candidates else None


def import_lmeval(root: Path, output_dir: Path) -> list[RunOutcome]:
    """Every results file under ROOT as a run under OUTPUT_DIR (one folder per results file)."""
    outcomes = []
    for results in results_files(root):
        data = _read_json(results)
        tasks: dict[str, TaskInfo] = {}
        records: list[SampleRecord] = []
        missing = []
        for task, task_results in data["results"].items():
            keys = _metric_keys(task_results)
            samples = _samples_file(results, task)
            if samples is None or not keys:
                missing.append(task)
                continue
            output_type = ((data.get("configs") or {}).get(task) or {}).get("output_type")
            task_recs = task_records(task, samples, keys, output_type)
            metrics = {k.split(",", 1)[0] for k in keys}
            lenient = next((k for k in keys[1:] if k.split(",", 1)[0] == keys[0].split(",", 1)[0]), None)
            tasks[f"{TASK_PREFIX}{task}"] = TaskInfo(
                version=f"lm-eval {task} {data.get('versions', {}).get(task, '?')}",
                data={"results": f"sha256:{file_sha256([results])}", "samples": f"sha256:{file_sha256([samples])}"},
                samples=len(task_recs), metrics=keys, strict_metric=keys[0],
                lenient_metric=lenient if len(metrics) == 1 else None)
            records += task_recs
        if not tasks:
            raise EvalkitError(f"{results}: no task has both metrics and a samples_<task>_*.jsonl file beside it "
                               "(run lm-eval with --log_samples)")
        config = data.get("config") or {}
        model = str(data.get("model_name") or config.get("model_args") or config.get("model") or results.parent.name)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{results.parent.name}_{_RESULTS.match(results.name).group(1)}")
        run_dir = output_dir / name[:120]
        if run_dir.exists() and any(run_dir.iterdir()):
            raise EvalkitError(f"{run_dir} exists; import into an empty --output-dir")
        manifest = RunManifest(
            evalkit_version=__version__, created_at=now_iso(), status="running",
            spec=RunSpec(tasks=list(tasks), model=f"lm-eval/{model}"),
            backend={"kind": "lm-eval-import", "model": str(config.get("model", "?"))},
            tasks=tasks,
            origin={"from": "lm-eval", "results": str(results), "lm_eval_version": data.get("lm_eval_version"),
                    "aggregates": {t: {k: v for k, v in data["results"][t].items() if k in _metric_keys(data["results"][t])}
                                   for t in data["results"]},
                    "not_imported": missing},
        )
        store = RunStore.create(run_dir, manifest)
        for record in records:
            store.append(record)
        store.close()
        outcomes.append(finish_run(store, {}))
    return outcomes
