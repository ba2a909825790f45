"""The report's charts as plotly figure specs (plain JSON): plotly.js, embedded in the file, draws them.

- a radar of every judged task (a 1-10 score per category), one trace per run;
- the group rows of a grouped task (Jaster's categories and AVG), runs side by side;
- strict, lenient and format violation per genre, one chart per run;
- pass@k against k, one line per run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from evalkit.summary import ALL, GROUP_SEPARATOR

if TYPE_CHECKING:
    import pandas as pd

    from evalkit.store import RunResult

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
FONT = '"Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", "Meiryo", system-ui, sans-serif'


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    figure: dict[str, Any]


def _label(text: str) -> str:
    """Plotly reads a little HTML in labels; names from files are shown as text."""
    return html.escape(text, quote=False)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": _label(title), "font": {"size": 15}}, "font": {"family": FONT, "size": 12},
            "margin": {"l": 60, "r": 20, "t": 50, "b": 80}, "legend": {"orientation": "h", "y": -0.2},
            "paper_bgcolor": "white", "plot_bgcolor": "white", **extra}


def charts(runs: Sequence["RunResult"], labels: Sequence[str], summaries: Sequence["pd.DataFrame"]) -> list[Chart]:
    cells = [{(r.task, r.genre, r.metric): (None if r.value is None or r.value != r.value else float(r.value))
              for r in s.itertuples(index=False)} for s in summaries]
    tasks = list(dict.fromkeys(name for run in runs for name in run.manifest.tasks))
    out: list[Chart] = []
    for task in tasks:
        present = [(i, run) for i, run in enumerate(runs) if task in run.manifest.tasks]
        info = present[0][1].manifest.tasks[task]
        genres = list(dict.fromkeys(g for i, _ in present for (t, g, _m) in cells[i] if t == task))
        leaves = [g for g in genres if g != ALL]
        grouped = any(GROUP_SEPARATOR in g for g in genres)
        names = [f"{labels[i]}: {run.dir.name}" for i, run in present]
        slug = "".join(ch if ch.isalnum() else "-" for ch in task)
        if info.value_range[1] > 1 and len(leaves) >= 3:
            out.append(_radar(f"radar-{slug}", task, info.strict_metric, leaves, present, names, cells, info.value_range))
        if grouped:
            groups = [g for g in genres if GROUP_SEPARATOR not in g]
            out.append(_bars(f"groups-{slug}", f"{task}: categories and AVG ({info.strict_metric})",
                             [("AVG" if g == ALL else g) for g in groups],
                             [(name, [cells[i].get((task, g, info.strict_metric)) for g in groups], PALETTE[i % 8])
                              for (i, _), name in zip(present, names)], (0, 1)))
        has_format = any(cells[i].get((task, g, "format_violation")) is not None for i, _ in present for g in genres)
        if (info.lenient_metric or has_format) and info.value_range == (0.0, 1.0):
            out += _formats(slug, task, info, grouped, leaves, present, names, cells)
        ks = sorted({int(m.split("@")[1]) for i, _ in present for (t, _g, m) in cells[i]
                     if t == task and m.startswith("pass@")})
        if len(ks) > 1:
            out.append(_pass_at_k(f"passk-{slug}", task, ks, present, names, cells))
    return out


def _formats(slug, task, info, grouped, leaves, present, names, cells) -> list[Chart]:
    """Strict, lenient and format violation: per genre and run; one chart with the runs side by side
    when the task has a single genre."""
    def named(metric: str, role: str) -> str:
        return role if metric == role else f"{metric} ({role})"

    measures = [(named(info.strict_metric, "strict"), info.strict_metric, "#1f77b4")]
    if info.lenient_metric:
        measures.append((named(info.lenient_metric, "lenient"), info.lenient_metric, "#2ca02c"))
    measures.append(("format violation", "format_violation", "#d62728"))
    shown = [g for g in leaves if GROUP_SEPARATOR in g] if grouped else (leaves or [ALL])
    title = f"{task}: strict, lenient, format violation"
    if len(shown) == 1:
        series = [(label, [cells[i].get((task, shown[0], metric)) for i, _ in present], color)
                  for label, metric, color in measures]
        return [_bars(f"formats-{slug}", title, names, series, (0, 1))]
    return [_bars(f"formats-{slug}-{i}", f"{title} — {name}", [g.split(GROUP_SEPARATOR, 1)[-1] for g in shown],
                  [(label, [cells[i].get((task, g, metric)) for g in shown], color) for label, metric, color in measures],
                  (0, 1))
            for (i, _), name in zip(present, names)]


def _radar(chart_id, task, metric, genres, present, names, cells, value_range) -> Chart:
    traces = []
    for (i, _), name in zip(present, names):
        values = [cells[i].get((task, g, metric)) for g in genres]
        traces.append({"type": "scatterpolar", "name": _label(name), "theta": [_label(g) for g in genres + genres[:1]],
                       "r": values + values[:1], "fill": "toself", "opacity": 0.55,
                       "line": {"color": PALETTE[i % 8]}})
    layout = _layout(f"{task}: {metric} per category", polar={"radialaxis": {"range": list(value_range)}}, height=460)
    return Chart(chart_id, f"{task} radar", {"data": traces, "layout": layout})


def _bars(chart_id, title, x, series, y_range) -> Chart:
    traces = [{"type": "bar", "name": _label(name), "x": [_label(v) for v in x], "y": values,
               "marker": {"color": color}} for name, values, color in series]
    layout = _layout(title, barmode="group", yaxis={"range": list(y_range), "gridcolor": "#eee"}, height=380)
    return Chart(chart_id, title, {"data": traces, "layout": layout})


def _pass_at_k(chart_id, task, ks, present, names, cells) -> Chart:
    traces = [{"type": "scatter", "mode": "lines+markers", "name": _label(name), "x": ks,
               "y": [cells[i].get((task, ALL, f"pass@{k}")) for k in ks], "line": {"color": PALETTE[i % 8]}}
              for (i, _), name in zip(present, names)]
    layout = _layout(f"{task}: pass@k", xaxis={"title": {"text": "k"}, "dtick": 1},
                     yaxis={"title": {"text": "pass@k"}, "range": [0, 1], "gridcolor": "#eee"}, height=360)
    return Chart(chart_id, f"{task} pass@k", {"data": traces, "layout": layout})
