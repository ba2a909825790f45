"""On real judgments the echo check finds none: GPT-4's 564 judgments of Japanese MT-Bench (../shared/data)
reproduce none of their prompt's instructions, though some copy a whole reference program, and every
verdict is read as FastChat's score. Opt-in (EVALKIT_INTEGRATION=1, EVALKIT_DATA_DIR)."""

from __future__ import annotations

import json
import os

import pytest

from evalkit.judges.prompts import load_prompt_file
from evalkit.judges.verdicts import ECHO_SHARE, echoed_share, parse_rating
from tests.integration.test_lmeval_agreement import DATA_DIR

pytestmark = pytest.mark.integration
JUDGMENTS = DATA_DIR / "ja_mt_bench" / "model_judgment" / "gpt-4_single.jsonl"


def test_gpt4_judgments_are_never_echoes_and_read_as_fastchat_reads_them():
    if os.environ.get("EVALKIT_INTEGRATION") != "1":
        pytest.skip("opt-in: set EVALKIT_INTEGRATION=1")
    if not JUDGMENTS.is_file():
        pytest.skip(f"needs {JUDGMENTS}")
    prompts = load_prompt_file(DATA_DIR / "ja_mt_bench" / "judge_ja_prompts.jsonl")
    rows = [json.loads(line) for line in JUDGMENTS.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 564
    shares = [echoed_share(r["judgment"], prompts[r["judge"][1]].instructions()) for r in rows]
    assert max(shares) < ECHO_SHARE
    # the whole prompt as sent would flag GPT-4 copying a reference program: why instructions are measured
    assert sum(echoed_share(r["judgment"], r["user_prompt"]) >= ECHO_SHARE for r in rows) > 0
    assert all((parse_rating(r["judgment"], r["user_prompt"]) or -1) == r["score"] for r in rows)
