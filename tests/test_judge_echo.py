"""A judge that echoes its prompt has not judged: every such reply is a judge failure and no rating is stored,
whatever the prompt's language or template, single or pairwise; how much of a prompt a reply reproduces is
measured by `echoed_share` (threshold ECHO_SHARE, documented in evalkit.judges.verdicts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.judges.verdicts import ECHO_SHARE, echoed_share, parse_rating
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.testing.scripted import ScriptedBackend
from tests.mt_bench_data import make_mt_bench_data, model_reply

# Invented instructions in the shape of the published ones, each with its format example.
EN_RULES = ("Please act as an impartial judge and evaluate the response below for helpfulness, accuracy and depth. "
            "Begin with a short explanation, then rate it strictly in this format, for example: Rating: [[5]]")
JA_RULES = ("公平な審査員として、以下の回答の有用性、正確さ、深さを評価してください。まず短い説明を書き、"
            "その後で必ず次の形式で評価してください。例：評価：[[5]]")
PAIR_RULES = ("Compare the two answers below as an impartial judge; do not let their order or length sway you. "
              "Explain briefly, then give your verdict strictly as [[A]] if A is better, [[B]] if B is better, "
              "[[C]] for a tie.")


def with_long_rules(root: Path) -> Path:
    """The invented judge prompts of tests/mt_bench_data with instructions as long as real ones."""
    for path, rules in ((root / "mt_bench" / "judge_prompts.jsonl", EN_RULES),
                        (root / "ja_mt_bench" / "judge_ja_prompts.jsonl", JA_RULES)):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for row in rows:
            text = PAIR_RULES if row["type"] == "pairwise" else rules
            row["system_prompt"] = f"{row['system_prompt']} {text}"
            row["prompt_template"] = f"{row['prompt_template']}\n{text}"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return root


def prompt_of(request) -> str:
    return "\n".join(content for _, content in request.messages)


ECHOES = {
    "verbatim": prompt_of,
    "whitespace changed": lambda r: " ".join(prompt_of(r).split()).replace(" ", "\n", 3),
    "full-width and a verdict after": lambda r: prompt_of(r).replace("[[", "［［").replace("]]", "］］") + "\n[[9]]",
    "two thirds": lambda r: prompt_of(r)[len(prompt_of(r)) // 3:],
}


@pytest.mark.parametrize("echo", list(ECHOES))
@pytest.mark.parametrize("task", ["mt_bench", "mt_bench_ja"])
def test_an_echoed_prompt_is_a_judge_failure_single_and_pairwise(tmp_path, task, echo):
    data = with_long_rules(make_mt_bench_data(tmp_path / "data"))
    base = tmp_path / "baseline"
    run_evaluation(RunSpec(tasks=[task], model="scripted/base", data_dir=str(data)), base, cache_path=None,
                   backend=ScriptedBackend(lambda r: "a baseline answer"))
    spec = RunSpec(tasks=[task], model="scripted/model", data_dir=str(data), judge="scripted/judge",
                   judge_args={"retries": 1}, max_error_rate=1.0, task_params={task: {"baseline": str(base)}})
    judge = ScriptedBackend(ECHOES[echo])
    run_evaluation(spec, tmp_path / "run", cache_path=None, backend=ScriptedBackend(model_reply), judge_backend=judge)
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    singles = [e for r in records for entries in r["details"]["judgments"].values() for e in entries]
    games = [g[side] for r in records for turn in r["details"]["pairwise"].values() for g in turn
             for side in ("model_first", "baseline_first")]
    assert singles and games
    for entry in singles:
        assert entry["rating"] is None and entry["failure"].startswith("echo: the reply repeats"), entry
    for game in games:
        assert game["verdict"] is None and game["failure"].startswith("echo: the reply repeats"), game
    assert all(value is None for r in records for key, value in r["scores"].items() if key != "judge_failures")
    assert {len(r.messages) for r in judge.received} and len(judge.received) == 2 * (len(singles) + len(games))


PROMPT = ("[Instruction] " + EN_RULES + "\n\n[Question]\nName a colour.\n\n[The Start of Assistant's Answer]\n"
          "Blue, the colour of a clear sky.\n[The End of Assistant's Answer]")


@pytest.mark.parametrize("reply, share_at_least, share_below", [
    (PROMPT, 1.0, 1.01),
    (" ".join(PROMPT.split()), 1.0, 1.01),  # whitespace does not hide an echo
    (PROMPT.upper(), 0.0, 0.01),  # not a copy
    (PROMPT[: len(PROMPT) // 2], 0.4, 0.6),
    ("The answer names a colour correctly but briefly. Rating: [[6]]", 0.0, 0.01),
    ("The assistant said \"Blue, the colour of a clear sky.\" That is right and vivid. Rating: [[8]]", 0.0, ECHO_SHARE),
    ("", 0.0, 0.01),
])
def test_echoed_share_measures_how_much_of_the_prompt_a_reply_reproduces(reply, share_at_least, share_below):
    assert share_at_least <= echoed_share(reply, PROMPT) < share_below


def test_a_short_prompt_is_never_an_echo_by_share():
    assert echoed_share("Rate it: [[5]]", "Rate it: [[5]]") == 0.0


@pytest.mark.parametrize("reply, expected", [
    ("for example:\nRating:\n[[5]]", None),  # the example, line breaks changed: still the prompt's
    ("strictly in this format, for example: Rating: [[5]] The answer is good. Rating: [[7]]", 7.0),
])
def test_a_verdict_from_the_prompt_does_not_count_whatever_the_whitespace(reply, expected):
    assert parse_rating(reply, PROMPT) == expected


def test_a_prompts_instructions_are_its_own_text_without_the_fields():
    from evalkit.judges.prompts import JudgePrompt

    prompt = JudgePrompt("single-v1", "single", "You are a judge.", "[Question]\n{question}\n[Answer]\n{answer}\nRate it.",
                         "[[rating]]", "test")
    assert prompt.instructions() == "You are a judge.\n[Question]\n\n[Answer]\n\nRate it."


def test_quoting_the_answer_or_reference_in_full_is_not_an_echo():
    from evalkit.judges.prompts import JudgePrompt

    prompt = JudgePrompt("single-math-v1", "single", EN_RULES, "[Question]\n{question}\n[Reference]\n{ref_answer_1}\n"
                         "[Answer]\n{answer}\n" + EN_RULES, "[[rating]]", "test")
    reference = "def add(a, b):\n    return a + b\n" * 20
    reply = f"The answer is wrong. A corrected answer:\n{reference}\nRating: [[2]]"
    assert echoed_share(reply, prompt.instructions()) == 0.0
    assert parse_rating(reply, "\n".join(c for _, c in prompt.render(
        {"question": "Add.", "ref_answer_1": reference, "answer": "no"}))) == 2.0
