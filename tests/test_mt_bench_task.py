"""The MT-Bench tasks: questions as two-turn samples, FastChat's and the Japanese fork's sampling, data sources."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.judges import sources
from evalkit.registry import TaskOptions
from evalkit.tasks.mt_bench import mt_bench_family, mt_bench_ja_family
from tests.mt_bench_data import EN_QUESTIONS, JA_DEFAULT_IDS, JA_QUESTIONS, make_mt_bench_data, write_jsonl


@pytest.fixture
def mtb_dir(tmp_path: Path) -> Path:
    return make_mt_bench_data(tmp_path / "data")


def load(family, variant: str, data: Path, **options):
    task = family.build(variant, TaskOptions(data_dir=data, **options))
    return task, task.load().samples


def test_questions_become_two_turn_samples_with_their_category_and_reference(mtb_dir):
    task, samples = load(mt_bench_family, "", mtb_dir)
    assert [s.id for s in samples] == [str(q) for q, _, _ in EN_QUESTIONS]
    math = next(s for s in samples if s.genre == "math")
    assert math.turns == ("What is 12 * 7?", "And 12 * 8?")
    assert math.metadata["reference"] == ("reference 82 one", "reference 82 two")
    # only math, reasoning and coding are graded against a reference (FastChat's NEED_REF_CATS)
    assert {s.genre for s in samples if s.metadata["reference"]} == {"math", "reasoning", "coding"}
    assert task.load().fingerprint["questions"].startswith("sha256:")


def test_japanese_default_set_and_the_full_set(mtb_dir):
    _, default = load(mt_bench_ja_family, "", mtb_dir)
    full_task, full = load(mt_bench_ja_family, "full", mtb_dir)
    assert [int(s.id) for s in default] == list(JA_DEFAULT_IDS)
    assert len(full) == len(JA_QUESTIONS) and full_task.name == "mt_bench_ja:full"


@pytest.mark.parametrize("family,variant,category,temperature,top_p,max_tokens", [
    (mt_bench_family, "", "writing", 0.7, None, 1024),  # FastChat
    (mt_bench_family, "", "math", 0.0, None, 1024),
    (mt_bench_family, "", "stem", 0.1, None, 1024),
    (mt_bench_family, "", "roleplay", 0.7, None, 1024),
    (mt_bench_ja_family, "full", "writing", 0.5, 0.9, 512),  # the Japanese fork
    (mt_bench_ja_family, "full", "math", 0.1, 0.9, 512),
    (mt_bench_ja_family, "full", "reasoning", 0.1, 0.9, 512),
    (mt_bench_ja_family, "full", "extraction", 0.2, 0.9, 512),
])
def test_generation_settings_per_category(mtb_dir, family, variant, category, temperature, top_p, max_tokens):
    task, samples = load(family, variant, mtb_dir)
    sample = next(s for s in samples if s.genre == category)
    params = task.build_request(sample, []).params
    assert (params.temperature, params.top_p, params.max_tokens) == (temperature, top_p, max_tokens)
    assert params.seed is None  # choices must differ on a server that honours a seed


def test_temperature_and_max_tokens_can_be_overridden(mtb_dir):
    task, samples = load(mt_bench_family, "", mtb_dir, temperature=0.3, max_tokens=64)
    params = task.build_request(samples[0], []).params
    assert (params.temperature, params.max_tokens) == (0.3, 64)


def test_the_second_turn_is_asked_with_the_models_own_first_answer(mtb_dir):
    task, samples = load(mt_bench_family, "", mtb_dir)
    first = task.build_request(samples[0], [])
    second = task.build_request(samples[0], ["my haiku"])
    assert first.kind == "chat" and first.messages == (("user", "Write a haiku about rain."),)
    assert second.messages == (("user", "Write a haiku about rain."), ("assistant", "my haiku"),
                               ("user", "Now make it about snow."))


def test_a_missing_reference_answer_is_a_clear_error(mtb_dir):
    write_jsonl(mtb_dir / "mt_bench" / "reference_answer" / "gpt-4.jsonl", [])
    with pytest.raises(EvalkitError, match="no reference answer for math question 82"):
        load(mt_bench_family, "", mtb_dir)


def test_a_missing_data_file_names_the_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalkitError, match="mt_bench/question.jsonl"):
        load(mt_bench_family, "", tmp_path / "empty")


def test_without_a_data_folder_files_come_from_the_pinned_source_once(tmp_path, monkeypatch):
    body = b'{"question_id": 1}\n'
    key = ("mt_bench", "question.jsonl")
    monkeypatch.setitem(sources.PUBLISHED, key, sources.PublishedFile("https://example.invalid/q.jsonl",
                                                                      hashlib.sha256(body).hexdigest()))
    monkeypatch.setenv(sources.DATA_CACHE_ENV, str(tmp_path / "cache"))
    fetched = []
    monkeypatch.setattr(sources, "fetch", lambda url: fetched.append(url) or body)
    path = sources.data_file(None, *key)
    assert path.read_bytes() == body and path == tmp_path / "cache" / "mt_bench" / "question.jsonl"
    assert sources.data_file(None, *key) == path and len(fetched) == 1  # the checked copy is reused


def test_a_published_file_that_changed_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.DATA_CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(sources, "fetch", lambda url: b"tampered")
    with pytest.raises(EvalkitError, match="SHA-256 differs"):
        sources.data_file(None, "mt_bench", "judge_prompts.jsonl")


def test_offline_without_a_data_folder_says_to_pass_one(tmp_path, monkeypatch):
    monkeypatch.setenv(sources.DATA_CACHE_ENV, str(tmp_path / "cache"))

    def offline(url, timeout=30.0):
        raise OSError("network unreachable")

    monkeypatch.setattr(sources.urllib.request, "urlopen", offline)
    with pytest.raises(EvalkitError, match="pass --data-dir"):
        sources.data_file(None, "ja_mt_bench", "question.jsonl")
