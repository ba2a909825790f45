"""GSM8K and MGSM prompts: lm-eval's frame and shot selection, our chat profile, MGSM exemplars."""

from __future__ import annotations

import random

import pytest

from evalkit.errors import EvalkitError
from evalkit.plan import prepare_tasks
from evalkit.registry import TaskOptions, build_task
from evalkit.spec import RunSpec
from evalkit.tasks.gsm8k import LMEVAL_STOP
from tests.conftest import invented_problem, make_data_dir


def test_lmeval_profile_prompt_frame_and_shots(data_dir):
    task = build_task("gsm8k", TaskOptions(data_dir=data_dir))
    samples = task.load().samples
    # lm-eval: one Random(1234) drawing 5 train indices per test document, in document order
    rnd = random.Random(1234)
    expected_shots = [tuple(rnd.sample(range(10), 5)) for _ in samples]
    assert [s.metadata["fewshot"] for s in samples] == expected_shots
    request = task.build_request(samples[0], [])
    shots = "".join(
        "Question: {question}\nAnswer: {answer}\n\n".format(**invented_problem(100 + j)) for j in expected_shots[0]
    )
    assert request.kind == "completion"
    assert request.prompt == shots + f"Question: {invented_problem(0)['question']}\nAnswer:"
    assert request.params.stop == LMEVAL_STOP and request.params.temperature == 0.0
    assert request.params.max_tokens == 256 and request.params.seed == 1234


def test_shots_of_a_document_do_not_depend_on_the_limit(data_dir):
    def prepared(limit):
        (task,) = prepare_tasks(RunSpec(tasks=["gsm8k"], model="none/none", data_dir=str(data_dir), limit=limit))
        return [(s.metadata["fewshot"], task.task.build_request(s, []).prompt) for s in task.samples]

    full, limited = prepared(None), prepared(3)
    assert len(full) == 30 and len(limited) == 3
    assert limited == full[:3]  # the same shots and the same prompt, whatever the limit
    assert len({shots for shots, _ in full}) > 1  # each document draws its own shots, as lm-eval does


def test_num_fewshot_zero_needs_no_train_split(tmp_path):
    data = make_data_dir(tmp_path)
    (data / "gsm8k" / "train.jsonl").unlink()
    task = build_task("gsm8k", TaskOptions(data_dir=data, num_fewshot=0))
    request = task.build_request(task.load().samples[0], [])
    assert request.prompt.startswith("Question: ") and "\n\n" not in request.prompt


def test_too_many_shots_is_a_clear_error(data_dir):
    with pytest.raises(EvalkitError, match="exceeds the 10 train rows"):
        build_task("gsm8k", TaskOptions(data_dir=data_dir, num_fewshot=11)).load().samples


def test_missing_field_names_the_file_and_row(tmp_path):
    data = make_data_dir(tmp_path)
    (data / "gsm8k" / "test.jsonl").write_text('{"question": "q only"}\n')
    with pytest.raises(EvalkitError, match=r"gsm8k/test: row 0 lacks field\(s\) answer"):
        build_task("gsm8k", TaskOptions(data_dir=data)).load().samples


def test_chat_profile_asks_for_an_answer_line(data_dir):
    task = build_task("gsm8k:chat", TaskOptions(data_dir=data_dir))
    sample = task.load().samples[1]
    request = task.build_request(sample, [])
    assert request.kind == "chat" and request.messages[0][0] == "user"
    assert "Answer: <number>" in request.messages[0][1] and sample.turns[0] in request.messages[0][1]
    assert sample.target == "7"  # 4 + 3, the number after '####'
    score = task.scorer.score([(sample, ["4 + 3 = 7\nAnswer: 7"])])[0]
    assert (score.value, score.format_ok) == (1.0, True)


@pytest.mark.parametrize("lang, question_prefix, answer_prefix", [("ja", "問題：", "ステップごとの答え："),
                                                                  ("en", "Question: ", "Step-by-Step Answer:")])
def test_mgsm_uses_the_published_exemplars(data_dir, lang, question_prefix, answer_prefix):
    task = build_task(f"mgsm_{lang}", TaskOptions(data_dir=data_dir, num_fewshot=2))
    sample = task.load().samples[0]
    prompt = task.build_request(sample, []).prompt
    blocks = prompt.split("\n\n")
    assert len(blocks) == 3 and blocks[0].startswith(question_prefix + "例題1\n" + answer_prefix)
    assert blocks[-1] == f"{question_prefix}{sample.turns[0]}\n{answer_prefix}"
    assert sample.target == "2"


def test_mgsm_scores_numerically(data_dir):
    task = build_task("mgsm_ja", TaskOptions(data_dir=data_dir))
    sample = task.load().samples[0]
    good, loose, bad = task.scorer.score([(sample, ["1+1=2。答えは2です。"]), (sample, ["2個"]), (sample, [""])])
    assert (good.value, good.format_ok) == (1.0, True)
    assert (loose.value, loose.metrics["flexible_extract"], loose.format_ok) == (0.0, 1.0, False)  # right, wrong form
    assert (bad.value, bad.format_ok) == (0.0, False)


def test_mgsm_tsv_with_a_missing_tab_names_the_line(tmp_path):
    data = make_data_dir(tmp_path)
    (data / "gsm8k" / "mgsm_ja.tsv").write_text("質問\t3\n壊れた行\n")
    with pytest.raises(EvalkitError, match=r"mgsm_ja.tsv:2: expected 2 tab-separated fields, found 1"):
        build_task("mgsm_ja", TaskOptions(data_dir=data)).load().samples
