"""`lm_eval:<task>`: lm-eval's task definitions run through evalkit, on small YAML tasks and data of our own.

Every output type lm-eval has (generate_until with two filters, multiple_choice, loglikelihood,
loglikelihood_rolling) and a group, against a scripted backend; lm-eval's own metric functions decide
every number, evalkit carries the requests, records, summary, resume and re-scoring.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from evalkit.cli import cli
from evalkit.errors import EvalkitError
from evalkit.registry import TaskOptions, build_task
from evalkit.runner import run_evaluation
from evalkit.spec import RunSpec
from evalkit.store import RunResult
from evalkit.testing.scripted import ScriptedBackend
from evalkit.types import Completion, Loglikelihood, Request, RequestError

pytest.importorskip("lm_eval")

COLOURS = [  # question, choices, index of the right one
    ("The sky on a clear day is", ["green", "blue", "red"], 1),
    ("Grass is usually", ["green", "purple", "orange"], 0),
    ("Snow is", ["black", "brown", "white"], 2),
    ("A ripe tomato is", ["red", "blue", "grey"], 0),
]
SUMS = [("2 + 3", 5), ("10 - 4", 6), ("7 * 6", 42), ("9 + 9", 18)]
WORDS = [("The opposite of hot is", "cold"), ("The opposite of up is", "down")]
TEXTS = ["one two three", "four five"]


def dump(path: Path, data) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@pytest.fixture(scope="module")
def include(tmp_path_factory) -> Path:
    """A folder of lm-eval YAML over local JSON lines: one task per output type and a group of two."""
    folder = tmp_path_factory.mktemp("lm_eval_yaml")
    rows = {
        "colours": [{"question": q, "choices": c, "label": i} for q, c, i in COLOURS],
        "sums": [{"question": q, "answer": f"It is {a}.\n#### {a}"} for q, a in SUMS],
        "words": [{"question": q, "word": w} for q, w in WORDS],
        "texts": [{"text": t} for t in TEXTS],
    }
    for name, lines in rows.items():
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))

    def local(name: str) -> dict:
        return {"dataset_path": "json", "dataset_name": None, "test_split": "test",
                "dataset_kwargs": {"data_files": {"test": str(folder / f"{name}.jsonl")}}}

    mc = {**local("colours"), "output_type": "multiple_choice", "doc_to_text": "Q: {{question}}\nA:",
          "doc_to_choice": "{{choices}}", "doc_to_target": "label",
          "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                          {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True}],
          "metadata": {"version": 2}}
    dump(folder / "toy_mc.yaml", {"task": "toy_mc", **mc})
    dump(folder / "toy_mc_short.yaml", {"task": "toy_mc_short", **mc,
                                        "dataset_kwargs": {"data_files": {"test": str(folder / "colours.jsonl")}},
                                        "process_docs": None} | {"test_split": "test"})
    dump(folder / "toy_gen.yaml", {
        "task": "toy_gen", **local("sums"), "output_type": "generate_until", "num_fewshot": 0,
        "doc_to_text": "Question: {{question}}\nAnswer:", "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": ["\n\n", "Question:"], "max_gen_toks": 40, "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True,
                         "ignore_case": True, "regexes_to_ignore": ["(?s).*#### "]}],
        "filter_list": [
            {"name": "strict", "filter": [{"function": "regex", "regex_pattern": "#### (\\-?[0-9]+)"},
                                          {"function": "take_first"}]},
            {"name": "flexible", "filter": [{"function": "regex", "group_select": -1, "regex_pattern": "(-?[0-9]+)"},
                                            {"function": "take_first"}]}],
        "metadata": {"version": 1}})
    dump(folder / "toy_ll.yaml", {
        "task": "toy_ll", **local("words"), "output_type": "loglikelihood", "doc_to_text": "{{question}}",
        "doc_to_target": " {{word}}", "metric_list": [{"metric": "perplexity", "aggregation": "perplexity",
                                                        "higher_is_better": False},
                                                       {"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1}})
    dump(folder / "toy_rolling.yaml", {
        "task": "toy_rolling", **local("texts"), "output_type": "loglikelihood_rolling", "doc_to_text": "",
        "doc_to_target": "{{text}}", "metric_list": [{"metric": "word_perplexity"}, {"metric": "bits_per_byte"}],
        "metadata": {"version": 1}})
    dump(folder / "toy_group.yaml", {"group": "toy_group", "task": ["toy_mc", "toy_ll"],
                                     "aggregate_metric_list": [{"metric": "acc", "weight_by_size": False}],
                                     "metadata": {"version": 1}})
    return folder


def colour_logprob(request: Request) -> Completion:
    """The right colour is the likeliest, except for snow, where 'black' wins."""
    question = request.prompt.removeprefix("Q: ").removesuffix("\nA:")
    choices, right = next((c, i) for q, c, i in COLOURS if q == question)
    picked = choices.index(request.continuation.strip())
    wrong_pick = question == "Snow is"
    best = 0 if wrong_pick else right
    return Completion(text=None, logprob=-0.5 if picked == best else -2.0 - picked, greedy=picked == best)


def sums_reply(request: Request) -> str:
    question = request.prompt.removeprefix("Question: ").removesuffix("\nAnswer:")
    answer = dict(SUMS)[question]
    if question == "7 * 6":
        return f" I think it is {answer}."  # no '#### ': strict finds nothing, flexible finds 42
    if question == "9 + 9":
        return " 17\n#### 17"  # wrong either way
    return f" Easy.\n#### {answer}"


def script(request: Request):
    if request.kind == "completion":
        return sums_reply(request)
    if request.prompt.startswith("Q: "):
        return colour_logprob(request)
    if request.prompt == "":  # rolling: the whole text, from the start of text
        return Completion(text=None, logprob=-2.0 * len(request.continuation.split()), greedy=False)
    greedy = request.continuation == " cold"
    return Completion(text=None, logprob=-0.25 if greedy else -3.0, greedy=greedy)


def run(include: Path, tmp_path: Path, task: str, name: str = "run", backend=None, **spec) -> RunResult:
    spec = RunSpec(tasks=[task], model="scripted/fake", task_params={task: {"include_path": str(include)}}, **spec)
    backend = backend or ScriptedBackend(script, request_kinds=frozenset({"completion", "chat", "loglikelihood"}))
    run_evaluation(spec, tmp_path / name, cache_path=tmp_path / "cache.sqlite", backend=backend)
    return RunResult.read(tmp_path / name)


def rows(result: RunResult) -> dict[tuple[str, str], float | None]:
    return {(r.genre, r.metric): r.value for r in result.summary().itertuples()}


# --- the output types --------------------------------------------------------------------------------


def test_multiple_choice_asks_one_loglikelihood_per_choice_and_scores_with_lm_evals_acc(include, tmp_path):
    backend = ScriptedBackend(script, request_kinds=frozenset({"loglikelihood"}))
    result = run(include, tmp_path, "lm_eval:toy_mc", backend=backend)
    assert [(r.prompt, r.continuation) for r in backend.received[:3]] == [
        ("Q: The sky on a clear day is\nA:", " green"), ("Q: The sky on a clear day is\nA:", " blue"),
        ("Q: The sky on a clear day is\nA:", " red")]
    assert len(backend.received) == sum(len(c) for _, c, _ in COLOURS)
    records = {r.sample_id: r for r in result.records}
    assert set(records) == {"0", "1", "2", "3"}
    snow = records["2"]
    assert snow.outputs == [Loglikelihood(-0.5, True), Loglikelihood(-3.0, False), Loglikelihood(-4.0, False)]
    assert (snow.answer, snow.target, snow.scores["acc,none"]) == ("black", "white", 0.0)
    assert records["0"].scores == {"acc,none": 1.0, "acc_norm,none": 1.0}
    assert rows(result)[("toy_mc", "acc,none")] == pytest.approx(0.75)
    assert result.manifest.tasks["lm_eval:toy_mc"].strict_metric == "acc,none"


def test_generation_uses_lm_evals_stop_sequences_filters_and_metric_and_flags_format(include, tmp_path):
    backend = ScriptedBackend(script)
    result = run(include, tmp_path, "lm_eval:toy_gen", backend=backend)
    first = backend.received[0]
    assert (first.kind, first.prompt, first.params.stop, first.params.max_tokens, first.params.temperature) == (
        "completion", "Question: 2 + 3\nAnswer:", ("\n\n", "Question:"), 40, 0.0)
    records = {r.sample_id: r for r in result.records}
    assert records["0"].scores == {"exact_match,strict": 1.0, "exact_match,flexible": 1.0}
    unformatted = records["2"]  # "I think it is 42."
    assert unformatted.scores == {"exact_match,strict": 0.0, "exact_match,flexible": 1.0}
    assert (unformatted.answer, unformatted.format_ok) == ("[invalid]", False)
    assert unformatted.details["filtered_resps"] == {"strict": "[invalid]", "flexible": "42"}
    info = result.manifest.tasks["lm_eval:toy_gen"]
    assert (info.strict_metric, info.lenient_metric) == ("exact_match,strict", "exact_match,flexible")
    table = rows(result)
    assert table[("toy_gen", "exact_match,strict")] == pytest.approx(0.5)
    assert table[("toy_gen", "exact_match,flexible")] == pytest.approx(0.75)
    assert table[("toy_gen", "format_violation")] == pytest.approx(0.25)


def test_loglikelihood_scores_greedy_acc_and_lm_evals_perplexity_over_the_records(include, tmp_path):
    result = run(include, tmp_path, "lm_eval:toy_ll")
    records = {r.sample_id: r for r in result.records}
    assert records["0"].outputs == [Loglikelihood(-0.25, True)] and records["0"].scores["acc,none"] == 1.0
    assert records["0"].answer is None  # one continuation: there is no choice to name
    assert records["1"].scores["acc,none"] == 0.0
    # perplexity is exp(-mean log-likelihood) over the documents, not a mean of per-document values
    assert rows(result)[("toy_ll", "perplexity,none")] == pytest.approx(math.exp((0.25 + 3.0) / 2))


def test_rolling_loglikelihood_is_one_request_from_the_start_and_word_perplexity_is_lm_evals(include, tmp_path):
    backend = ScriptedBackend(script, request_kinds=frozenset({"loglikelihood"}))
    result = run(include, tmp_path, "lm_eval:toy_rolling", backend=backend)
    assert [(r.prompt, r.continuation) for r in backend.received] == [("", "one two three"), ("", "four five")]
    table = rows(result)
    # word_perplexity = exp(-sum log p / sum words): log p is -2 per word here
    assert table[("toy_rolling", "word_perplexity,none")] == pytest.approx(math.exp(2.0))
    total_bytes = sum(len(t.encode()) for t in TEXTS)
    assert table[("toy_rolling", "bits_per_byte,none")] == pytest.approx(10.0 / total_bytes / math.log(2))


def test_a_stored_run_is_summed_up_again_with_lm_evals_aggregations(include, tmp_path):
    """`show` of an unfinished run and `compare` sum records up again: the plugin reads lm-eval's definitions."""
    from evalkit.summary import summarize_run
    from evalkit.views import group_metrics

    result = run(include, tmp_path, "lm_eval:toy_rolling")
    again = summarize_run(result.records, result.manifest.tasks,
                          {"lm_eval:toy_rolling": group_metrics(result, "lm_eval:toy_rolling")})
    again_rows = {(r.genre, r.metric): r.value for r in again.itertuples()}
    assert again_rows[("toy_rolling", "word_perplexity,none")] == pytest.approx(math.exp(2.0))
    assert again_rows == pytest.approx(rows(result), nan_ok=True)


def test_a_group_runs_its_tasks_as_genres_and_its_all_row_is_lm_evals_group_figure(include, tmp_path):
    result = run(include, tmp_path, "lm_eval:toy_group")
    assert {r.sample_id for r in result.records} == {"toy_mc/0", "toy_mc/1", "toy_mc/2", "toy_mc/3",
                                                      "toy_ll/0", "toy_ll/1"}
    table = rows(result)
    assert table[("toy_mc", "acc,none")] == pytest.approx(0.75)
    assert table[("toy_ll", "acc,none")] == pytest.approx(0.5)
    # weight_by_size: false: the mean of the two tasks' figures, not of the six documents (4/6)
    assert table[("all", "acc,none")] == pytest.approx((0.75 + 0.5) / 2)


def test_limit_takes_the_first_documents_of_each_task_of_a_group(include, tmp_path):
    result = run(include, tmp_path, "lm_eval:toy_group", limit=1)
    assert sorted(r.sample_id for r in result.records) == ["toy_ll/0", "toy_mc/0"]


# --- what evalkit adds: cache, resume, re-scoring -------------------------------------------------------


def test_a_cached_rerun_sends_nothing_and_stores_the_same_scores(include, tmp_path):
    first = run(include, tmp_path, "lm_eval:toy_mc", name="a")
    again = ScriptedBackend(script, request_kinds=frozenset({"loglikelihood"}))
    second = run(include, tmp_path, "lm_eval:toy_mc", name="b", backend=again)
    assert again.received == []
    assert sorted((r.sample_id, r.outputs, r.scores) for r in first.records) == \
        sorted((r.sample_id, r.outputs, r.scores) for r in second.records)
    assert all(r.cached for r in second.records)


def test_one_failed_choice_fails_its_document_and_a_resume_asks_only_for_it(include, tmp_path):
    def down_for_white(request):
        if request.continuation == " white":
            return Completion(text=None, error=RequestError("http", "down", status=503))
        return script(request)

    kinds = frozenset({"loglikelihood"})
    run(include, tmp_path, "lm_eval:toy_mc", name="r", backend=ScriptedBackend(down_for_white, request_kinds=kinds),
        max_error_rate=1.0)
    records = {r.sample_id: r for r in RunResult.read(tmp_path / "r").records}
    assert records["2"].error is not None and records["2"].scores["acc,none"] is None
    assert all(records[i].answered for i in ("0", "1", "3"))

    healed = ScriptedBackend(script, request_kinds=kinds)
    spec = RunSpec(tasks=["lm_eval:toy_mc"], model="scripted/fake",
                   task_params={"lm_eval:toy_mc": {"include_path": str(include)}}, max_error_rate=1.0)
    run_evaluation(spec, tmp_path / "r", cache_path=tmp_path / "cache.sqlite", backend=healed, resume=True)
    assert [r.continuation for r in healed.received] == [" white"]  # snow's other choices come from the cache
    final = {r.sample_id: r for r in RunResult.read(tmp_path / "r").records}
    assert final["2"].answered and final["2"].scores["acc,none"] == 0.0


def test_evalkit_score_rescores_a_bridged_run_from_its_stored_replies(include, tmp_path):
    run(include, tmp_path, "lm_eval:toy_gen", name="g")
    before = {r.sample_id: r.scores for r in RunResult.read(tmp_path / "g").records}
    scored = CliRunner().invoke(cli, ["score", str(tmp_path / "g")])
    assert scored.exit_code == 0, scored.output
    assert {r.sample_id: r.scores for r in RunResult.read(tmp_path / "g").records} == before


def test_a_metric_that_fails_on_one_document_is_an_error_of_that_document(include):
    task = build_task("lm_eval:toy_mc", TaskOptions(), {"include_path": str(include)})
    samples = task.load().samples
    lm_task = task.loaded.tasks["toy_mc"]
    real = lm_task.process_results

    def breaks_on_snow(doc, results):
        if doc["question"] == "Snow is":
            raise ZeroDivisionError("division by zero")
        return real(doc, results)

    lm_task.process_results = breaks_on_snow
    replies = [[Loglikelihood(-1.0, False), Loglikelihood(-0.5, True), Loglikelihood(-2.0, False)]] * len(samples)
    scores = task.scorer.score(list(zip(samples, replies)))
    snow = scores[2]
    assert snow.value is None and snow.metrics == {"acc,none": None, "acc_norm,none": None}
    assert snow.details["error"] == "lm-eval could not score it: ZeroDivisionError: division by zero"
    assert scores[0].value == 1.0 and "error" not in scores[0].details


# --- bad input: one clear line -------------------------------------------------------------------------


def test_an_unknown_name_is_one_line_with_lm_evals_closest_names(include):
    task = build_task("lm_eval:toy_mcq", TaskOptions(), {"include_path": str(include)})
    with pytest.raises(EvalkitError, match=r"no task, group or tag 'toy_mcq'.*did you mean lm_eval:toy_mc"):
        task.load()


def test_an_include_path_that_is_no_folder_is_one_line(tmp_path):
    task = build_task("lm_eval:toy_mc", TaskOptions(), {"include_path": str(tmp_path / "nowhere")})
    with pytest.raises(EvalkitError, match="not a folder of lm-eval task YAML"):
        task.load()


def test_a_backend_without_loglikelihoods_is_refused_before_anything_is_sent(include, tmp_path):
    backend = ScriptedBackend(script)  # completions and chat only
    with pytest.raises(EvalkitError, match=r"lm_eval:toy_mc asks for loglikelihood requests, which scripted/fake"):
        run(include, tmp_path, "lm_eval:toy_mc", backend=backend)
    assert backend.received == []


def test_a_generation_task_runs_on_a_backend_without_loglikelihoods(include, tmp_path):
    result = run(include, tmp_path, "lm_eval:toy_gen", backend=ScriptedBackend(script))
    assert len(result.records) == len(SUMS)


def test_tasks_lists_lm_evals_names_by_pattern():
    from evalkit.tasks.lm_eval.library import matching_names

    found = {name: (kind, output_type, where) for name, kind, output_type, where in matching_names("gsm8k*")}
    assert found["gsm8k"] == ("task", "generate_until", "gsm8k/gsm8k.yaml")
    assert "gsm8k_cot" in found and all(name.startswith("gsm8k") for name in found)
    listed = CliRunner().invoke(cli, ["tasks", "lm_eval:gsm8k*"])
    assert listed.exit_code == 0, listed.output
    assert f"{len(found)} names match 'gsm8k*'" in " ".join(listed.output.split())


def test_the_report_shows_each_choices_loglikelihood(include, tmp_path):
    import base64
    import gzip
    import re

    run(include, tmp_path, "lm_eval:toy_mc")
    made = CliRunner().invoke(cli, ["report", str(tmp_path / "run"), "-o", str(tmp_path / "r.html")])
    assert made.exit_code == 0, made.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    packed = re.search(r'id="evalkit-data"[^>]*>([^<]*)</script>', html).group(1)
    samples = json.loads(gzip.decompress(base64.b64decode(packed)))["samples"]
    snow = next(s for s in samples if s["id"] == "2")
    assert snow["r"][0]["o"] == ["log p = -0.5000 (greedy)", "log p = -3.0000", "log p = -4.0000"]
    assert snow["r"][0]["oh"] == ["log-likelihood request 1", "log-likelihood request 2", "log-likelihood request 3"]
    assert snow["r"][0]["a"] == "black"
