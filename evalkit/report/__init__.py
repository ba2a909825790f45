"""`evalkit report RUN... -o report.html`: one self-contained HTML file that compares runs, offline.

Everything is inside the file: the styles, the page's script, plotly.js (from the plotly package)
for the charts, and the data. The per-sample data travels gzip-compressed and base64-encoded, so
a model's output never appears in the page's markup; the script puts every text on the page with
`textContent`, so a reply holding `<script>` or an `onerror` attribute stays text. A Content
Security Policy forbids every network request the page might otherwise make.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from evalkit import __version__
from evalkit.compare import compare_runs, comparison_tables, labels_for
from evalkit.leaderboard import Profile, default_profile, standing
from evalkit.arena.tables import arena_tables
from evalkit.report.charts import Chart, charts
from evalkit.report.samples import sample_rows
from evalkit.store import RunResult
from evalkit.tables import ResultTable
from evalkit.views import current_summary, header, run_tables

CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")


def render_report(runs: Sequence[RunResult], title: str | None = None, profile: Profile | None = None,
                  arena: Path | None = None, exclude: Path | None = None, judge_agreement: bool = False) -> str:
    from jinja2 import Environment

    labels = list(labels_for(len(runs)))
    summaries = []
    notes = []
    for label, run in zip(labels, runs):
        summary, note = current_summary(run)
        summaries.append(summary)
        if note:
            notes.append(f"{label}: {note}")
    comparison = compare_runs(runs) if len(runs) > 1 else None
    if comparison is not None:
        notes += list(comparison.notes) + [n for t in comparison.tasks for n in t.notes]
    profile = profile or default_profile({k: v for run in runs for k, v in run.manifest.tasks.items()})
    boards = [standing(profile, summary, run.manifest.tasks) for run, summary in zip(runs, summaries)]
    data = {"labels": labels, "runs": [run.dir.name for run in runs], "samples": sample_rows(runs)}
    clean = _clean_tables(runs, labels, summaries, exclude) if exclude else []
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(_asset("template.html"))
    return template.render(
        title=title or "evalkit report: " + " vs ".join(run.dir.name for run in runs),
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"), version=__version__, csp=CSP,
        runs=[{"label": label, "name": run.dir.name, "facts": header(run)} for label, run in zip(labels, runs)],
        leaderboard={"profile": profile.name, "rows": _leaderboard_rows(boards, labels)},
        comparison=[_table(t) for t in comparison_tables(comparison)] if comparison else [],
        run_tables=[{"label": label, "tables": [_table(t) for t in run_tables(s, run.manifest)]}
                    for label, run, s in zip(labels, runs, summaries)],
        charts=[{"id": c.id, "title": c.title, "figure": _script_json(c.figure)}
                for c in charts(runs, labels, summaries) + ([arena_chart(arena)] if arena else [])],
        arena=[_table(t) for t in arena_tables(_arena_store(arena))] if arena else [],
        clean=clean, excluded=str(exclude) if exclude else None,
        agreement=_agreement_tables(runs, labels) if judge_agreement else [],
        notes=notes,
        data=_packed(data),
        style=_asset("report.css"),
        script=_asset("report.js"),
        plotly=_plotly_js(),
    )


def write_report(run_dirs: Sequence[Path], output: Path, title: str | None = None,
                 profile: Profile | None = None, arena: Path | None = None, exclude: Path | None = None,
                 judge_agreement: bool = False) -> int:
    """Write the report; returns its size in bytes."""
    html = render_report([RunResult.read(d) for d in run_dirs], title, profile, arena, exclude, judge_agreement)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html, encoding="utf-8")
    return len(html.encode("utf-8"))


def _agreement_tables(runs: Sequence[RunResult], labels: Sequence[str]) -> list[dict[str, Any]]:
    """The judge of every run after the first against the first run's, on the answers both judged."""
    from evalkit.errors import EvalkitError
    from evalkit.judges.agreement import agreement_tables, compare_judges

    if len(runs) < 2:
        raise EvalkitError("--judge-agreement compares the judges of two or more runs of the same answers")
    return [{"label": f"{labels[0]} vs {label}",
             "tables": [_table(t) for t in agreement_tables(compare_judges(runs[0], run, (labels[0], label)))]}
            for label, run in zip(labels[1:], runs[1:])]


def _clean_tables(runs: Sequence[RunResult], labels: Sequence[str], summaries, exclude: Path) -> list[dict[str, Any]]:
    """Per run, every metric on all items and without the excluded ones."""
    from evalkit.exclusion import Exclusion, side_by_side, without

    exclusion = Exclusion.load(exclude)
    out = []
    for label, run, summary in zip(labels, runs, summaries):
        clean = without(run, exclusion)
        out.append({"label": label, "note": clean.note(), "table": _table(side_by_side(summary, clean.run.summary(),
                                                                                      clean.removed))})
    return out


def _arena_store(path: Path):
    from evalkit.arena.store import ArenaStore
    from evalkit.errors import EvalkitError

    if not path.is_file():
        raise EvalkitError(f"--arena {path} does not exist")
    return ArenaStore(path)


def arena_chart(path: Path) -> Chart:
    """The arena's ratings with their 95% intervals, best first."""
    from evalkit.arena.tables import ranking_of

    ranking = ranking_of(_arena_store(path))
    order = ranking.order() if ranking else []
    models = [ranking.models[i] for i in order] if ranking else []
    ratings = [float(ranking.ratings[i]) for i in order] if ranking else []
    trace = {"type": "scatter", "mode": "markers", "x": models, "y": ratings, "marker": {"size": 10, "color": "#2f5bd3"},
             "error_y": {"type": "data", "symmetric": False,
                         "array": [float(ranking.ci_high[i] - ranking.ratings[i]) for i in order] if ranking else [],
                         "arrayminus": [float(ranking.ratings[i] - ranking.ci_low[i]) for i in order] if ranking else []}}
    layout = {"title": {"text": "arena: Bradley–Terry ratings with 95% intervals"}, "height": 360,
              "yaxis": {"title": {"text": "rating"}, "gridcolor": "#eee"}, "paper_bgcolor": "white",
              "plot_bgcolor": "white", "margin": {"l": 60, "r": 20, "t": 50, "b": 80}}
    return Chart("arena-ratings", "arena ratings", {"data": [trace], "layout": layout})


def _leaderboard_rows(boards, labels) -> list[dict[str, Any]]:
    return [{"label": label, "overall": board.overall, "missing": board.missing,
             "parts": [(f"{p.component.task} {p.component.genre} {p.metric}", p.scaled) for p in board.parts]}
            for label, board in zip(labels, boards)]


def _table(table: ResultTable) -> dict[str, Any]:
    """A table for the template: each cell with its classes (numbers right-aligned, a change coloured by its
    sign, a significant one marked)."""
    def classes(r: int, c: int, text: str) -> str:
        found = [] if c < table.left_aligned else ["num"]
        found += {"good": ["pos"], "bad": ["neg"], "": []}[table.tones.get((r, c), "")]
        return " ".join(found + (["sig"] if text.endswith("*") else []))

    rows = [[{"text": v, "cls": classes(r, c, v)} for c, v in enumerate(row)] for r, row in enumerate(table.rows)]
    return {"title": table.title, "columns": table.columns, "rows": rows, "caption": table.caption,
            "emphasized": table.emphasized, "left": table.left_aligned}


def _packed(data: Any) -> str:
    """JSON, gzip-compressed, base64: a few MB of prompts shrink tenfold, and no text of it is markup."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=4, mtime=0)).decode("ascii")


def _script_json(value: Any) -> str:
    """JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(_finite(value), ensure_ascii=False, allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _finite(value: Any) -> Any:
    """NaN and infinities (a summary's missing value, a correlation of constants) as null: JSON has no NaN."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _asset(name: str) -> str:
    return (resources.files("evalkit.report") / name).read_text(encoding="utf-8")


def _plotly_js() -> str:
    """plotly.js as the plotly package ships it."""
    script = (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    return script.replace("</script", "<\\/script")  # never the end of the <script> element it sits in
