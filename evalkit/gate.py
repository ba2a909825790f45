"""`evalkit gate`: a CI check of a candidate run against a baseline, by rules; exit 0 pass, 1 regression, 2 bad input.

```yaml
rules:
  - {task: jaster, metric: strict, max_drop: 0.02}             # AVG may drop by at most 0.02
  - {task: "*", genre: "*", no_significant_drop: 0.05}         # no genre of any task drops at p<0.05 (Holm)
  - {task: humaneval, metric: pass@1, min: 0.30}               # an absolute floor for the candidate
  - {task: "*", metric: format_violation, max_rise: 0.05}
```

A rule names a task (`*`: every task both runs have), a genre (`all` by default, `*`: every row of
the task) and a metric (the task's strict metric by default), and exactly one condition:
`max_drop` / `max_rise` (change against the baseline), `min` / `max` (the candidate's value), or
`no_significant_drop` / `no_significant_rise` (the alpha of a paired test on the shared samples;
Holm-adjusted over the rows the rule checks). A rule that cannot be checked (a task or metric
missing from a run) fails: a gate fails closed. Without a rules file, DEFAULT_RULES apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evalkit.compare import Comparison, RowComparison, compare_runs, holm_tests
from evalkit.errors import EvalkitError
from evalkit.summary import ALL
from evalkit.yaml_files import load_model

if TYPE_CHECKING:
    from evalkit.store import RunResult

CONDITIONS = ("max_drop", "max_rise", "min", "max", "no_significant_drop", "no_significant_rise")


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    task: str = "*"
    genre: str = ALL
    metric: str | None = None  # None: each task's strict metric
    max_drop: float | None = Field(default=None, ge=0)
    max_rise: float | None = Field(default=None, ge=0)
    min: float | None = None
    max: float | None = None
    no_significant_drop: float | None = Field(default=None, gt=0, lt=1)
    no_significant_rise: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def one_condition(self) -> "Rule":
        given = [c for c in CONDITIONS if getattr(self, c) is not None]
        if len(given) != 1:
            raise ValueError(f"a rule has exactly one of {', '.join(CONDITIONS)} (this one has "
                             f"{', '.join(given) or 'none'})")
        return self

    @property
    def condition(self) -> tuple[str, float]:
        kind = next(c for c in CONDITIONS if getattr(self, c) is not None)
        return kind, float(getattr(self, kind))

    def title(self) -> str:
        if self.name:
            return self.name
        kind, limit = self.condition
        where = f"{self.task} {'every genre' if self.genre == '*' else self.genre} {self.metric or 'strict'}"
        return {"max_drop": f"{where} drops by at most {limit:g}", "max_rise": f"{where} rises by at most {limit:g}",
                "min": f"{where} is at least {limit:g}", "max": f"{where} is at most {limit:g}",
                "no_significant_drop": f"{where}: no significant drop (p<{limit:g}, Holm)",
                "no_significant_rise": f"{where}: no significant rise (p<{limit:g}, Holm)"}[kind]


class Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[Rule] = Field(min_length=1)


DEFAULT_RULES = Rules(rules=[
    Rule(name="no task's strict metric drops significantly in any genre (p<0.05, Holm)", genre="*",
         no_significant_drop=0.05),
    Rule(name="format violations rise by at most 0.05", metric="format_violation", max_rise=0.05),
    Rule(name="request errors rise by at most 0.02", metric="error_rate", max_rise=0.02),
])


@dataclass(frozen=True)
class Check:
    """One row a rule looked at."""

    task: str
    genre: str
    metric: str
    baseline: float | None
    candidate: float | None
    p: float | None  # Holm-adjusted over the rule's rows, for significance rules
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class RuleResult:
    rule: Rule
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def load_rules(path: Path) -> Rules:
    return load_model(path, Rules, "gate rules file")


def check(rules: Rules, baseline: "RunResult", candidate: "RunResult") -> tuple[Comparison, list[RuleResult]]:
    """Compare the two runs (paired tests only where a significance rule needs them) and apply the rules."""
    strict = {name: info.strict_metric for name, info in baseline.manifest.tasks.items()}

    def tested(task: str, metric: str) -> bool:
        return any(rule.condition[0].startswith("no_significant") and rule.task in ("*", task)
                   and (rule.metric or strict.get(task)) == metric for rule in rules.rules)

    comparison = compare_runs([baseline, candidate], tested)
    return comparison, evaluate(rules, comparison)


def evaluate(rules: Rules, comparison: Comparison) -> list[RuleResult]:
    """Every rule against the comparison of exactly two runs (baseline first)."""
    if len(comparison.runs) != 2:
        raise EvalkitError("a gate compares exactly two runs: --baseline and --candidate")
    return [RuleResult(rule, tuple(_checks(rule, comparison))) for rule in rules.rules]


def _checks(rule: Rule, comparison: Comparison) -> list[Check]:
    every = [t.task for t in comparison.tasks]
    tasks = every if rule.task == "*" else [rule.task]
    checks: list[Check] = []
    for name in tasks:
        task = comparison.task(name)
        metric = rule.metric or (task.strict_metric if task else "strict metric")
        if task is None:
            base, cand = (name in run.manifest.tasks for run in comparison.runs)
            where = "the baseline" if cand else "the candidate" if base else "either run"
            checks.append(Check(name, rule.genre, metric, None, None, None, False, f"{name} is not in {where}"))
            continue
        rows = [r for r in task.rows if r.metric == metric and (rule.genre == "*" or r.genre == rule.genre)]
        if not rows:
            checks.append(Check(name, rule.genre, metric, None, None, None, False,
                                f"{name} has no {metric} row for genre {rule.genre}"))
            continue
        checks += _judge(rule, rows)
    return checks


def _judge(rule: Rule, rows: Sequence[RowComparison]) -> list[Check]:
    kind, limit = rule.condition
    significance = kind.startswith("no_significant")
    adjusted = holm_tests([r.tests[1] for r in rows]) if significance else [None] * len(rows)
    out = []
    for row, p in zip(rows, adjusted):
        base, cand, delta = row.values[0], row.values[1], row.delta(1)
        needs_base = kind in ("max_drop", "max_rise") or significance
        if cand is None or (needs_base and base is None):
            out.append(Check(row.task, row.genre, row.metric, base, cand, None, False, "no value to check"))
            continue
        if kind == "max_drop":
            passed, reason = delta >= -limit - 1e-12, f"dropped by {-delta:.4f}"  # type: ignore[operator]
        elif kind == "max_rise":
            passed, reason = delta <= limit + 1e-12, f"rose by {delta:.4f}"  # type: ignore[operator]
        elif kind == "min":
            passed, reason = cand >= limit, f"{cand:.4f} < {limit:g}"
        elif kind == "max":
            passed, reason = cand <= limit, f"{cand:.4f} > {limit:g}"
        else:
            worse = delta < 0 if kind == "no_significant_drop" else delta > 0  # type: ignore[operator]
            passed = not (worse and p is not None and p < limit)
            reason = f"{'dropped' if kind == 'no_significant_drop' else 'rose'} by {abs(delta):.4f}, p={p:.2g} (Holm)" \
                if p is not None else ""
        out.append(Check(row.task, row.genre, row.metric, base, cand, p, bool(passed), "" if passed else reason))
    return out


# --- what CI shows -------------------------------------------------------------------------------


def markdown(results: Sequence[RuleResult], comparison: Comparison) -> str:
    passed = all(r.passed for r in results)
    base, cand = comparison.runs
    lines = [f"## evalkit gate: {'✅ passed' if passed else '❌ failed'}", "",
             f"- baseline: `{base.dir}` ({base.manifest.spec.model})",
             f"- candidate: `{cand.dir}` ({cand.manifest.spec.model})", "",
             "| | rule | rows checked | failed |", "|---|---|---:|---:|"]
    for result in results:
        lines.append(f"| {'✅' if result.passed else '❌'} | {_md(result.rule.title())} | {len(result.checks)} | "
                     f"{len(result.failures)} |")
    failures = [(r, c) for r in results for c in r.failures]
    if failures:
        lines += ["", "### Failures", "", "| rule | task | genre | metric | baseline | candidate | why |",
                  "|---|---|---|---|---:|---:|---|"]
        for result, check in failures:
            lines.append(f"| {_md(result.rule.title())} | {check.task} | {check.genre} | {check.metric} | "
                         f"{_num(check.baseline)} | {_num(check.candidate)} | {_md(check.reason)} |")
    notes = [n for t in comparison.tasks for n in t.notes] + list(comparison.notes)
    if notes:
        lines += ["", *(f"> {_md(n)}" for n in notes)]
    return "\n".join(lines) + "\n"


def console_report(results: Sequence[RuleResult]) -> str:
    """What the terminal shows: each rule with PASS or FAIL, the rows that failed, the verdict (rich markup)."""
    from rich.markup import escape

    lines = []
    for result in results:
        lines.append(f"{'[green]PASS[/]' if result.passed else '[red]FAIL[/]'} {escape(result.rule.title())} "
                     f"({len(result.checks)} rows)")
        lines += [f"     {escape(c.task)} {escape(c.genre)} {escape(c.metric)}: {escape(c.reason)}" for c in result.failures]
    failed = sum(not r.passed for r in results)
    lines.append(f"gate: {'failed' if failed else 'passed'} ({len(results) - failed} of {len(results)} rules hold)")
    return "\n".join(lines)


def junit(results: Sequence[RuleResult]) -> str:
    """JUnit XML: one test case per rule, its failed rows in the failure message."""
    suite = ElementTree.Element("testsuite", name="evalkit gate", tests=str(len(results)),
                                failures=str(sum(not r.passed for r in results)), errors="0")
    for result in results:
        case = ElementTree.SubElement(suite, "testcase", classname="evalkit.gate", name=result.rule.title())
        if not result.passed:
            lines = [f"{c.task} {c.genre} {c.metric}: {c.reason} (baseline {_num(c.baseline)}, candidate "
                     f"{_num(c.candidate)})" for c in result.failures]
            failure = ElementTree.SubElement(case, "failure", message=lines[0], type="regression")
            failure.text = "\n".join(lines)
    ElementTree.indent(suite)
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _md(text: str) -> str:
    return text.replace("|", "\\|")

