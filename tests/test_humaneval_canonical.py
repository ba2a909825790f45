"""Replaying the canonical solutions passes every HumanEval and JHumanEval problem (pass@1 = 1.0).

Opt-in (EVALKIT_INTEGRATION=1): needs the real data folder (EVALKIT_DATA_DIR, default
../shared/data) with humaneval/HumanEval.jsonl.gz and humaneval/jhuman-eval.jsonl.gz. About ten
seconds on 2 cores: 328 programs through the sandbox.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evalkit.plan import prepare_tasks
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("EVALKIT_DATA_DIR") or REPO.parent / "shared" / "data").resolve()

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.environ.get("EVALKIT_INTEGRATION") != "1", reason="opt-in: set EVALKIT_INTEGRATION=1"),
    pytest.mark.skipif(not (DATA_DIR / "humaneval" / "jhuman-eval.jsonl.gz").is_file(),
                       reason=f"no HumanEval data in {DATA_DIR} (set EVALKIT_DATA_DIR)"),
]


def test_canonical_solutions_pass_every_problem(tmp_path):
    spec = RunSpec(tasks=["humaneval", "jhumaneval"], model="scripted/canonical", data_dir=str(DATA_DIR),
                   allow_code_execution=True)
    canonical: dict[tuple[str, str], str] = {}

    def script(request):
        return canonical[request.task, request.sample_id]

    for prepared in prepare_tasks(spec):
        canonical.update({(prepared.task.name, s.id): s.target for s in prepared.samples})
    outcome = run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(script, max_batch_size=64))
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    failed = [(r["sample_id"], r["details"]) for r in records if r["scores"]["passed"] != 1.0]
    assert failed == [] and len(records) == 328
    rows = outcome.summary.query("genre == 'all' and metric == 'pass@1'").set_index("task")
    assert rows["value"].to_dict() == {"humaneval": 1.0, "jhumaneval": 1.0}
    assert rows["n"].to_dict() == {"humaneval": 164, "jhumaneval": 164}
