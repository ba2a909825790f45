"""The MT-Bench judge: a Scorer that holds a Backend and grades each turn (and, with a baseline, compares).

For every sample it asks the judge model, through the run's ManagedBackend (same cache,
concurrency and retries as the answers), for a 1-10 rating of each turn with the published prompt
for the sample's category and turn; with a baseline run it also plays FastChat's pairwise games
in both orders. A verdict that cannot be read is asked again (a different `choice`, so a different
cache key, sampled at RETRY_TEMPERATURE because a greedy judge would repeat itself) at most
`retries` times, then recorded as a judge failure: the turn's score is None and `judge_failures`
counts it. A judge request that fails after the backend's own retries is recorded the same way and
marked incomplete, so a re-run of the command judges it again (and only it: the rest is cached).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from evalkit.errors import EvalkitError
from evalkit.judges.prompts import JudgePrompt, Messages, PromptSet, pair_fields, prompt_name, single_fields
from evalkit.judges.scores import METRICS, aggregate, judge_failure_kinds, sample_scores
from evalkit.judges.verdicts import (
    ECHO_SHARE,
    PAIR_SCHEMA,
    RATING_SCHEMA,
    echoed_share,
    pair_outcome,
    parse_pair_verdict,
    parse_rating,
    response_formats,
)
from evalkit.records import SampleRecord
from evalkit.roles import Judge, JudgeModel
from evalkit.types import Completion, GenerationParams, Request, Sample, Score

JUDGE_MAX_TOKENS = 2048  # FastChat's budget for an OpenAI judge's reply
RETRY_TEMPERATURE = 0.7
FORMAT_NAMES = ("json_schema", "json_object", "text")
TEXT = len(FORMAT_NAMES) - 1  # the format level of free text
NOT_JUDGED = "not judged: no --judge was given"


@dataclass(frozen=True)
class JudgeSettings:
    """`--judge-args`: max_tokens (reply budget), retries (re-asks of an unreadable verdict), json
    (ask for structured output where the server supports it, falling back to [[rating]] text),
    repeats (`--judge-repeats`: single-answer gradings per turn; the first greedy as FastChat judges,
    the others sampled at RETRY_TEMPERATURE with their own seed, so their spread shows how stable
    the judge is)."""

    max_tokens: int = JUDGE_MAX_TOKENS
    retries: int = 2
    json: bool = False
    repeats: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, Any] | None) -> "JudgeSettings":
        args = dict(args or {})
        known = ("max_tokens", "retries", "json", "repeats")
        unknown = sorted(set(args) - set(known))
        if unknown:
            raise EvalkitError(f"--judge-args: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
        try:
            settings = cls(
                max_tokens=int(args.get("max_tokens", JUDGE_MAX_TOKENS)),
                retries=int(args.get("retries", 2)),
                json=bool(args.get("json", False)),
                repeats=int(args.get("repeats", 1)),
            )
        except (TypeError, ValueError):
            raise EvalkitError("--judge-args: max_tokens, retries and repeats must be integers") from None
        if settings.max_tokens < 1 or settings.retries < 0 or settings.repeats < 1:
            raise EvalkitError("--judge-args: max_tokens must be >= 1, retries >= 0 and repeats >= 1")
        return settings


@dataclass
class _Ask:
    """One verdict to obtain: the prompt, and how many times it has been asked."""

    key: tuple[str, int, str]  # ("single", turn, "" | "repeat<k>") or ("pair", turn, "model_first" | "baseline_first")
    prompt: JudgePrompt
    messages: Messages
    sample_id: str
    format_level: int
    repeat: int = 0  # which of --judge-repeats gradings this is (0: the greedy one)
    attempt: int = 0
    rejected: list[str] = field(default_factory=list)

    @property
    def pairwise(self) -> bool:
        return self.key[0] == "pair"


def _repeat_key(k: int) -> str:
    return f"repeat{k}" if k else ""


class MTBenchJudge(Judge):
    """Single-answer grading of every turn, reference-guided where FastChat uses a reference, and
    pairwise comparison against a baseline run. Without a judge model it records answers as not
    judged (scores None), so that `evalkit score RUN --judge ...` can grade them later.

    The judge prompts travel with each sample (`metadata["judge_prompts"]`, one PromptSet shared by
    all), as its reference answer does: the task loads them with its questions."""

    metrics = METRICS
    strict_metric = "score"
    value_range = (1.0, 10.0)

    def __init__(self, task_name: str, judge: JudgeModel | None, baseline: Path | None = None) -> None:
        super().__init__(judge)
        self.task_name = task_name
        self.settings = JudgeSettings.from_args(judge.args if judge else None)
        self.baseline = load_baseline(baseline, task_name) if baseline is not None else None
        self.baseline_name = baseline.name if baseline is not None else None
        self._format_level = 0 if self.settings.json else TEXT  # free text unless structured output is asked for
        self._format_settled = not self.settings.json
        self._probe = asyncio.Lock()

    @property
    def judge_name(self) -> str | None:
        return self.judge.name if self.judge else None

    def plan(self, samples: Sequence[Sample], run_dir: Path) -> str:
        """How many judge calls grading these answers (one per sample and choice) takes."""
        if self.judge is None:
            return (f"{self.task_name}: {NOT_JUDGED}; the answers are kept: grade them with "
                    f"evalkit score {run_dir} --judge BACKEND/MODEL")
        turns = sum(len(s.turns) for s in samples)
        pairwise = 2 * turns if self.baseline is not None else 0
        per_answer = {len(s.turns) for s in samples}
        if len(per_answer) == 1:
            k = per_answer.pop()
            each = f"{len(samples)} answers x {k} turn{'s' if k != 1 else ''}"
        else:
            each = f"{len(samples)} answers, {turns} turns in all"
        repeats = self.settings.repeats
        if repeats > 1:
            each += f" x {repeats} repeats"
        single = turns * repeats
        line = (f"{self.task_name}: judge {self.judge_name} will make {single + pairwise} judge calls "
                f"({single} single-answer gradings")
        if pairwise:
            line += f" + {pairwise} pairwise, both orders against {self.baseline_name}"
        return (f"{line}; {each}); an unreadable verdict is asked again at most {self.settings.retries} times; "
                "calls answered before come from the cache")

    def incomplete(self, record: SampleRecord) -> bool:
        """Whether a stored record holds a judgment whose request failed (to be judged again)."""
        if self.judge is None:
            return False
        return any(kind.startswith("request") for kind in judge_failure_kinds(record.details))

    def failed(self, record: SampleRecord) -> bool:
        """Whether some judgment of the record failed (a request, or a verdict that could not be read)."""
        return self.judge is not None and bool(judge_failure_kinds(record.details))

    def aggregate(self, records: Sequence[SampleRecord]) -> dict[str, float | None]:
        return aggregate(records)

    # -- scoring -------------------------------------------------------------------------------

    async def ascore(self, items: Sequence[tuple[Sample, list[str]]]) -> list[Score]:
        return list(await asyncio.gather(*(self._judge(sample, outputs) for sample, outputs in items)))

    async def _judge(self, sample: Sample, outputs: list[str]) -> Score:
        if self.judge is None:
            return Score(None, None, None, {m: None for m in METRICS}, {"note": NOT_JUDGED})
        base = (self.baseline or {}).get(sample.id)
        asks = self._single_asks(sample, outputs) + self._pair_asks(sample, outputs, base)
        results = await self._resolve(asks)
        details: dict[str, Any] = {"judge": self.judge_name, "judgments": {}}
        for turn in range(1, len(outputs) + 1):
            details["judgments"][f"turn{turn}"] = [results[("single", turn, _repeat_key(k))]
                                                   for k in range(self.settings.repeats)]
        if self.baseline is not None:
            details["pairwise"] = self._games(sample, outputs, base, self.baseline_name, results)
        metrics = sample_scores(details)
        return Score(metrics["score"], None, None, metrics, details)

    async def battle(self, sample: Sample, first: list[str], second: list[str],
                     opponent: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """FastChat's pairwise games of `first` against `second` on every turn both answered, each in
        both orders (a verdict that flips with the order is a tie); outcomes from `first`'s side."""
        assert self.judge is not None, "a battle needs a judge model"
        turns = min(len(first), len(second))
        results = await self._resolve(self._pair_asks(sample, first[:turns], second))
        return self._games(sample, first[:turns], second, opponent, results)

    def _single_asks(self, sample: Sample, outputs: list[str]) -> list[_Ask]:
        prompts: PromptSet = sample.metadata["judge_prompts"]
        reference = sample.metadata.get("reference")
        asks = []
        for turn in range(1, len(outputs) + 1):
            prompt = prompts.get(prompt_name(sample.genre, turn))
            messages = prompt.render(single_fields(sample.turns, outputs, reference, turn))
            asks += [_Ask(("single", turn, _repeat_key(k)), prompt, messages, sample.id, self._format_level, repeat=k)
                     for k in range(self.settings.repeats)]
        return asks

    def _pair_asks(self, sample: Sample, outputs: list[str], base: list[str] | None) -> list[_Ask]:
        if not base or len(base) < len(outputs):
            return []
        prompts: PromptSet = sample.metadata["judge_prompts"]
        reference = sample.metadata.get("reference")
        asks = []
        for turn in range(1, len(outputs) + 1):
            prompt = prompts.get(prompt_name(sample.genre, turn, pairwise=True))
            for order, (a, b) in (("model_first", (outputs, base)), ("baseline_first", (base, outputs))):
                messages = prompt.render(pair_fields(sample.turns, a, b, reference, turn))
                asks.append(_Ask(("pair", turn, order), prompt, messages, sample.id, self._format_level))
        return asks

    def _games(self, sample: Sample, outputs: list[str], base: list[str] | None, opponent: str | None,
               results: dict) -> dict[str, list[dict[str, Any]]]:
        games: dict[str, list[dict[str, Any]]] = {}
        has_baseline = bool(base)
        for turn in range(1, len(outputs) + 1):
            first, second = results.get(("pair", turn, "model_first")), results.get(("pair", turn, "baseline_first"))
            if first is None or second is None:
                missing = "the baseline run has no answer for this sample" if not has_baseline else \
                    "the baseline run's answer has fewer turns"
                first = second = {"verdict": None, "failure": f"baseline: {missing}"}
            games[f"turn{turn}"] = [{
                "opponent": opponent,
                "prompt": prompt_name(sample.genre, turn, pairwise=True),
                "model_first": first,
                "baseline_first": second,
                "outcome": pair_outcome(first.get("verdict"), second.get("verdict")),
            }]
        return games

    async def _resolve(self, asks: list[_Ask]) -> dict[tuple[str, int, str], dict[str, Any]]:
        """Ask until every verdict is read, or its retries are spent, or its request failed."""
        results: dict[tuple[str, int, str], dict[str, Any]] = {}
        todo = list(asks)
        if todo and not self._format_settled:
            probed, completion = todo[0], await self._settle_format(todo[0])
            todo = todo[1:] + ([probed] if completion is None or not self._settle(probed, completion, results) else [])
        while todo:
            for ask in todo:
                ask.format_level = max(ask.format_level, self._format_level)
            again: list[_Ask] = []
            async for i, completion in self._backend.stream([self._request(ask) for ask in todo]):
                if self._settle(todo[i], completion, results):
                    continue
                again.append(todo[i])
            todo = again
        return results

    def _settle(self, ask: _Ask, completion: Completion, results: dict) -> bool:
        """Record the verdict (or the failure) in `results` and say True, or say False: ask again."""
        if not completion.ok:
            if self._refused_format(ask, completion):
                return False
            results[ask.key] = self._entry(ask, None, None, f"request: {completion.error}")
            return True
        # An echo is measured on the prompt's own instructions (system prompt and template text, in
        # whatever language): a judge quoting the answer or the reference it grades is not echoing.
        # A verdict is then read against the whole prompt as sent (a quoted "[[10]]" is no verdict).
        prompt = "\n".join(content for _, content in ask.messages)
        share = echoed_share(completion.text, ask.prompt.instructions())
        if share >= ECHO_SHARE:
            verdict, failure = None, f"echo: the reply repeats {share:.0%} of the judge prompt's instructions"
        else:
            verdict = (parse_pair_verdict if ask.pairwise else parse_rating)(completion.text, prompt)
            failure = None if verdict is not None else "unparsable"
        if verdict is None and ask.attempt < self.settings.retries:
            ask.rejected.append(completion.text or "")
            ask.attempt += 1
            return False
        results[ask.key] = self._entry(ask, verdict, completion.text, failure)
        return True

    async def _settle_format(self, ask: _Ask) -> Completion | None:
        """Structured output is tried on one request before any other is sent, so a server that
        refuses it (llama-cpp-python answers HTTP 500, which is retried) costs one request's
        retries rather than every request's. Returns that request's answer in the format settled
        on, or None when another sample settled it meanwhile."""
        async with self._probe:
            completion = None
            while not self._format_settled:
                ask.format_level = self._format_level
                async for _, completion in self._backend.stream([self._request(ask)]):
                    refused = not completion.ok and self._refused_format(ask, completion)
                    self._format_settled = not refused or self._format_level == TEXT
                    if refused:
                        completion = None
            return completion

    def _request(self, ask: _Ask) -> Request:
        response_format = None
        if ask.format_level < TEXT:
            response_format = response_formats(PAIR_SCHEMA if ask.pairwise else RATING_SCHEMA)[ask.format_level]
        params = GenerationParams(
            max_tokens=self.settings.max_tokens,
            # FastChat judges greedily; a repeat (its own seed, its own cache key) and a re-ask are sampled
            temperature=0.0 if ask.attempt == 0 and ask.repeat == 0 else RETRY_TEMPERATURE,
            seed=ask.repeat or None,
            response_format=response_format,
        )
        return Request(kind="chat", messages=ask.messages, params=params, task=f"{self.task_name}/judge",
                       sample_id=ask.sample_id, turn=ask.key[1] - 1, choice=ask.attempt)

    @property
    def _backend(self):
        assert self.judge is not None  # asks are made only with a judge model
        return self.judge.backend

    def _refused_format(self, ask: _Ask, completion: Completion) -> bool:
        """A server that rejects a structured-output shape gets the next one, then free text; the
        downgrade holds for the rest of the run, so it is paid once."""
        if ask.format_level >= TEXT or completion.error is None or completion.error.kind != "unsupported":
            return False
        self._format_level = max(self._format_level, ask.format_level + 1)
        ask.format_level = self._format_level
        return True

    @staticmethod
    def _entry(ask: _Ask, verdict: Any, reply: str | None, failure: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"prompt": ask.prompt.name}
        entry["verdict" if ask.pairwise else "rating"] = verdict
        entry.update(reply=reply, failure=failure, attempts=ask.attempt + 1, output=FORMAT_NAMES[ask.format_level])
        if ask.rejected:
            entry["rejected"] = ask.rejected  # the unreadable replies before this one, for the record
        return entry


def load_baseline(run_dir: Path, task_name: str) -> dict[str, list[str]]:
    """sample_id -> the baseline run's answer turns (choice 0, as FastChat compares), for one task."""
    from evalkit.store import RunResult

    answers = {r.sample_id: r.outputs for r in RunResult.read(run_dir).records
               if r.task == task_name and r.choice == 0 and r.answered and r.outputs}
    if not answers:
        raise EvalkitError(f"-T baseline={run_dir} holds no answers of task {task_name}")
    return answers
