"""The lm-eval bridge: `lm_eval:<task, group or tag>` runs lm-evaluation-harness's own task definitions
(MMLU, ARC, GPQA, HellaSwag, JMMLU, gsm8k, ... and YAML of your own) through evalkit's backends, cache,
resume, run store and tables. lm-eval is imported only when a bridged task is loaded or listed."""

from __future__ import annotations

from pathlib import Path

from evalkit.params import Param
from evalkit.registry import OpenVariants, TaskFamily, TaskOptions
from evalkit.tables import ResultTable


def _build(variant: str, options: TaskOptions):
    from .task import LmEvalTask

    return LmEvalTask(variant, options)


def _overview(data: Path | None) -> tuple[str, str]:
    return "lm_eval:<task or group>", "–"  # lm-eval counts its own; `evalkit tasks lm_eval:PATTERN` lists names


def _listing(pattern: str) -> ResultTable:
    from .library import lm_eval_version, matching_names

    rows = tuple((f"lm_eval:{name}", kind, output_type, where) for name, kind, output_type, where in matching_names(pattern))
    caption = (f"lm-eval {lm_eval_version()}: {len(rows)} names match {pattern!r}; a group or a tag runs its tasks "
               "as one evalkit task, a genre each. Definitions are under lm_eval/tasks/; your own YAML: "
               "-T include_path=DIR")
    return ResultTable(f"evalkit tasks lm_eval:{pattern}", ("task", "kind", "output type", "definition"), rows,
                       caption, left_aligned=4)


lm_eval_family = TaskFamily(
    name="lm_eval",
    description="lm-evaluation-harness tasks through evalkit's backends: MMLU, ARC, GPQA, HellaSwag, gsm8k, ... "
                "(`evalkit tasks lm_eval:PATTERN` finds names)",
    build=_build,
    variants=OpenVariants(),
    params=(Param("include_path", "path", "a folder of lm-eval task YAML files of your own (lm-eval's "
                                          "--include_path), searched before lm-eval's library"),),
    overview=_overview,
    listing=_listing,
)
