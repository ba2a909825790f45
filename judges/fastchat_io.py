"""FastChat llm_judge files in and out: its questions, answers and judgments as evalkit runs, and back.

Import reads FastChat's question file, `model_answer/<model>.jsonl` files and
`model_judgment/<judge>_single.jsonl` / `_pair.jsonl` lines, and writes one evalkit run per model.
FastChat's own scores are kept as they are (-1, its "no rating", becomes a judge failure), and
every judgment line becomes one entry in the sample's `details`, repeated judgments included, so
the pooled means of the run equal what FastChat's show_result prints for that file.
Export writes a run's answers (and its single-answer judgments) in FastChat's formats.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from evalkit import __version__
from evalkit.data import file_sha256, read_jsonl, require_fields
from evalkit.errors import EvalkitError
from evalkit.judges.scores import sample_scores
from evalkit.judges.verdicts import pair_outcome
from evalkit.manifest import RunManifest, TaskInfo, now_iso
from evalkit.outcome import RunOutcome, finish_run
from evalkit.records import SampleRecord, sample_order
from evalkit.registry import TaskOptions, build_task
from evalkit.spec import RunSpec
from evalkit.store import RunResult, RunStore, source_git_sha
from evalkit.tasks.mt_bench import MTBench

BENCH_NAMES = {"mt_bench": "mt_bench", "mt_bench_ja": "japanese_mt_bench", "mt_bench_ja:full": "japanese_mt_bench"}


@dataclass(frozen=True)
class ImportedRun:
    model: str
    run_dir: Path
    outcome: RunOutcome


def infer_task(questions: Path) -> str:
    """The task a FastChat question file belongs to, from where it lies (japanese_mt_bench, ja_mt_bench)."""
    if "ja" in questions.parent.name.split("_") or questions.parent.name.startswith("japanese"):
        return "mt_bench_ja:full" if questions.name == "question_full.jsonl" else "mt_bench_ja"
    return "mt_bench"


def import_fastchat(questions: Path, judgments: Sequence[Path], output_dir: Path, answers: Path | None = None,
                    task_name: str | None = None, skip_unknown: bool = False) -> list[ImportedRun]:
    """One evalkit run per model found in the judgment and answer files, in output_dir/<model>/."""
    task_name = task_name or infer_task(questions)
    task = build_task(task_name, TaskOptions())  # checks the name; loads no data
    if not isinstance(task, MTBench):
        raise EvalkitError(f"--task {task_name}: FastChat files hold MT-Bench judgments; use one of {', '.join(BENCH_NAMES)}")
    rows = read_jsonl(questions)
    require_fields(rows, ("question_id", "category", "turns"), str(questions))
    by_id = {str(r["question_id"]): r for r in rows}
    singles, pairs = _read_judgments(judgments)
    model_answers = _read_answers(answers) if answers else {}
    unknown = sorted({str(j["question_id"]) for j in singles + pairs} - by_id.keys(), key=sample_order)
    if unknown and not skip_unknown:
        raise EvalkitError(
            f"{len(unknown)} judged question(s) are not in {questions} (ids {', '.join(unknown[:8])}"
            f"{', ...' if len(unknown) > 8 else ''}); pass the question file that holds them (the full set, "
            "e.g. question_full.jsonl with --task mt_bench_ja:full), or --skip-unknown to leave them out"
        )
    singles = [j for j in singles if str(j["question_id"]) in by_id]
    pairs = [j for j in pairs if str(j["question_id"]) in by_id]
    models = sorted({j["model"] for j in singles} | {j[k] for j in pairs for k in ("model_1", "model_2")}
                    | set(model_answers))
    if not models:
        raise EvalkitError("the FastChat files hold no judgments or answers")
    data_dir = _data_dir_of(questions, task)
    sources = {
        "questions": f"sha256:{file_sha256([questions])}",
        "judgments": [f"sha256:{file_sha256([p])}" for p in judgments],
        "answers": f"sha256:{file_sha256(sorted(answers.glob('*.jsonl')))}" if answers else None,
    }
    imported = []
    for model in models:
        records = _records(task_name, model, by_id, singles, pairs, model_answers.get(model, {}))
        spec = RunSpec(tasks=[task_name], model=f"fastchat/{model}", data_dir=str(data_dir) if data_dir else None)
        run_dir = output_dir / re.sub(r"[^A-Za-z0-9._-]+", "_", model)
        if run_dir.exists() and any(run_dir.iterdir()):
            raise EvalkitError(f"{run_dir} exists; import into an empty --output-dir")
        manifest = RunManifest(
            evalkit_version=__version__, git_sha=source_git_sha(), created_at=now_iso(), status="running", spec=spec,
            backend={"kind": "fastchat-import", "model": model},
            tasks={task_name: TaskInfo(version=task.version, data=sources, samples=len({r.sample_id for r in records}),
                                       metrics=list(task.scorer.metrics), strict_metric="score",
                                       value_range=task.scorer.value_range)},
            origin={"from": "fastchat", "questions": str(questions), "judgments": [str(p) for p in judgments],
                    "answers": str(answers) if answers else None, "unknown_questions_skipped": len(unknown),
                    "judges": sorted({"/".join(j["judge"]) for j in singles + pairs if model in _models_of(j)})},
        )
        store = RunStore.create(run_dir, manifest)
        for record in records:
            store.append(record)
        store.close()
        outcome = finish_run(store, {task_name: task.scorer})
        imported.append(ImportedRun(model, run_dir, outcome))
    return imported


def _read_judgments(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    singles, pairs = [], []
    for path in paths:
        for index, row in enumerate(read_jsonl(path)):
            if {"model", "score", "turn", "judge"} <= row.keys():
                singles.append(row)
            elif {"model_1", "model_2", "g1_winner", "g2_winner", "judge"} <= row.keys():
                pairs.append(row)
            else:
                raise EvalkitError(f"{path}: line {index + 1} is neither a FastChat single nor a pairwise judgment")
    return singles, pairs


def _read_answers(folder: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """model -> question_id -> answer row; the model is the file name, as FastChat reads it."""
    if not folder.is_dir():
        raise EvalkitError(f"--answers {folder} is not a folder of FastChat model_answer/*.jsonl files")
    answers: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        rows = read_jsonl(path)
        require_fields(rows, ("question_id", "choices"), str(path))
        answers[path.stem] = {str(r["question_id"]): r for r in rows}  # a later line wins, as in FastChat
    return answers


def _models_of(judgment: dict[str, Any]) -> set[str]:
    return {judgment[k] for k in ("model", "model_1", "model_2") if k in judgment}


def _single_entry(row: dict[str, Any]) -> dict[str, Any]:
    score = row.get("score")
    valid = isinstance(score, (int, float)) and not isinstance(score, bool) and score != -1
    return {"prompt": row["judge"][1], "rating": float(score) if valid else None, "reply": row.get("judgment"),
            "failure": None if valid else "unparsable", "attempts": 1, "judge_model": row["judge"][0],
            "tstamp": row.get("tstamp")}


def _pair_game(row: dict[str, Any], model: str) -> dict[str, Any]:
    """A FastChat pairwise line seen from `model`: the game it played as A, then the one as B."""
    other = row["model_2"] if row["model_1"] == model else row["model_1"]
    as_a, as_b = ("g1", "g2") if row["model_1"] == model else ("g2", "g1")

    def verdict(game: str, model_letter: str) -> str | None:
        winner = {"model_1": row["model_1"], "model_2": row["model_2"]}.get(row[f"{game}_winner"], row[f"{game}_winner"])
        if winner == "tie":
            return "tie"
        if winner not in (model, other):
            return None  # "error": FastChat could not read the verdict
        return model_letter if winner == model else ("B" if model_letter == "A" else "A")

    first, second = verdict(as_a, "A"), verdict(as_b, "B")
    return {
        "opponent": other, "prompt": row["judge"][1], "judge_model": row["judge"][0],
        "model_first": {"verdict": first, "reply": row.get(f"{as_a}_judgment"), "failure": None if first else "unparsable"},
        "baseline_first": {"verdict": second, "reply": row.get(f"{as_b}_judgment"), "failure": None if second else "unparsable"},
        "outcome": pair_outcome(first, second),  # type: ignore[arg-type]
    }


def _records(task: str, model: str, questions: dict[str, dict[str, Any]], singles: list[dict[str, Any]],
             pairs: list[dict[str, Any]], answers: dict[str, dict[str, Any]]) -> list[SampleRecord]:
    judged: dict[str, dict[str, Any]] = defaultdict(lambda: {"judgments": {}, "pairwise": {}})
    for row in sorted((j for j in singles if j["model"] == model), key=lambda j: j.get("tstamp") or 0):
        judged[str(row["question_id"])]["judgments"].setdefault(f"turn{row['turn']}", []).append(_single_entry(row))
    for row in (j for j in pairs if model in (j["model_1"], j["model_2"])):
        turn = f"turn{row.get('turn', 1)}"
        judged[str(row["question_id"])]["pairwise"].setdefault(turn, []).append(_pair_game(row, model))
    records = []
    for qid in sorted(judged.keys() | answers.keys(), key=sample_order):
        question = questions.get(qid)
        if question is None:
            continue  # an answer to a question outside the question file
        choices = (answers.get(qid) or {}).get("choices") or [{"index": 0, "turns": None}]
        for choice in choices:
            index = int(choice.get("index", 0))
            details: dict[str, Any] = {"source": "fastchat"}
            if index == 0 and qid in judged:  # FastChat judges the first choice only
                details.update({k: v for k, v in judged[qid].items() if v})
            outputs = choice.get("turns") or []
            records.append(SampleRecord(
                task=task, sample_id=qid, choice=index, genre=question["category"],
                messages=_messages(question["turns"], outputs) if outputs else None, outputs=outputs,
                scores=sample_scores(details), details=details,
            ))
    return records


def _messages(questions: list[str], outputs: list[str]) -> list[dict[str, str]]:
    """The chat of the last turn's request, as the runner records it."""
    messages = []
    for question, answer in zip(questions[: len(outputs) - 1], outputs):
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return messages + [{"role": "user", "content": questions[len(outputs) - 1]}]


def _data_dir_of(questions: Path, task: MTBench) -> Path | None:
    """The data folder the question file lies in, when it is laid out like ../shared/data for this task,
    so that `evalkit score RUN --judge ...` can load the task's data again."""
    edition = task.edition
    if questions.parent.name == edition.benchmark and questions.name == edition.questions:
        return questions.parent.parent.resolve()
    return None


# --- export --------------------------------------------------------------------------------------


def export_fastchat(run_dir: Path, output_dir: Path, model_id: str | None = None) -> list[Path]:
    """The run's MT-Bench answers as <output_dir>/<bench>/model_answer/<model_id>.jsonl, and its
    single-answer judgments merged into <bench>/model_judgment/<judge>_single.jsonl."""
    run = RunResult.read(run_dir)
    spec = run.manifest.spec
    model_id = model_id or spec.model.partition("/")[2] or run_dir.name
    run_judge = (spec.judge or "").partition("/")[2] or "judge"
    tstamp = datetime.fromisoformat(run.manifest.created_at).timestamp()
    by_task: dict[str, dict[str, list[SampleRecord]]] = defaultdict(lambda: defaultdict(list))
    for record in run.records:
        if record.task in BENCH_NAMES and record.answered and record.outputs:
            by_task[record.task][record.sample_id].append(record)
    if not by_task:
        raise EvalkitError(f"{run_dir} holds no MT-Bench answers to export")
    written = []
    for task, samples in by_task.items():
        bench = output_dir / BENCH_NAMES[task]
        answer_lines: list[dict[str, Any]] = []
        judgment_lines: dict[str, list[dict[str, Any]]] = defaultdict(list)  # by judge model, one file each
        for qid in sorted(samples, key=sample_order):
            records = sorted(samples[qid], key=lambda r: r.choice)
            question_id: int | str = int(qid) if qid.isdigit() else qid
            answer_id = hashlib.sha256(f"{model_id}/{task}/{qid}".encode()).hexdigest()[:22]
            answer_lines.append({"question_id": question_id, "answer_id": answer_id, "model_id": model_id,
                                 "choices": [{"index": r.choice, "turns": r.outputs} for r in records],
                                 "tstamp": tstamp})
            judgments = records[0].details.get("judgments") or {}
            for key, entries in judgments.items():
                for entry in entries:
                    judge = entry.get("judge_model") or run_judge  # imported judgments keep their judge
                    judgment_lines[judge].append({
                        "question_id": question_id, "model": model_id, "judge": [judge, entry.get("prompt")],
                        "user_prompt": "", "judgment": entry.get("reply") or "",
                        "score": entry["rating"] if entry.get("rating") is not None else -1,
                        "turn": int(key.removeprefix("turn")), "tstamp": tstamp,
                    })
        written.append(_write_lines(bench / "model_answer" / f"{model_id}.jsonl", answer_lines))
        for judge, lines in judgment_lines.items():
            path = bench / "model_judgment" / f"{judge}_single.jsonl"
            kept = [r for r in (read_jsonl(path) if path.exists() else []) if r.get("model") != model_id]
            written.append(_write_lines(path, kept + lines))
    return written


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
