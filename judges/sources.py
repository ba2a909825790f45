"""MT-Bench data files: from the local data folder, or fetched once from their pinned published source.

The questions, reference answers and judge prompts are published as files in FastChat's repository
(lm-sys/FastChat for MT-Bench, the jp-stable branch of Stability-AI/FastChat for Japanese
MT-Bench). With `--data-dir` nothing leaves the machine; without one, each file is downloaded from
the pinned commit, checked against its SHA-256 and kept under ~/.cache/evalkit/data, so every run
reads byte-identical data.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from evalkit.data import local_file
from evalkit.errors import EvalkitError
from evalkit.paths import cache_path

DATA_CACHE_ENV = "EVALKIT_DATA_CACHE"
_FASTCHAT = "https://raw.githubusercontent.com/lm-sys/FastChat/0e6d3e4beaab66f4d3f93db72541a4abab8af28d/fastchat/llm_judge/data"
_JP_STABLE = (
    "https://raw.githubusercontent.com/Stability-AI/FastChat/e37eb28ee490480f6f4989274ed47c55f7dfce82/fastchat/llm_judge/data"
)


@dataclass(frozen=True)
class PublishedFile:
    url: str
    sha256: str


# (data-folder benchmark, file name) -> where it is published. Names follow ../shared/data.
PUBLISHED: dict[tuple[str, str], PublishedFile] = {
    ("mt_bench", "question.jsonl"): PublishedFile(
        f"{_FASTCHAT}/mt_bench/question.jsonl", "119565adbab82227089cefdb44c8d7e2cf04dc0a0ec233634c82e7d4e2a944f7"),
    ("mt_bench", "judge_prompts.jsonl"): PublishedFile(
        f"{_FASTCHAT}/judge_prompts.jsonl", "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6"),
    ("mt_bench", "reference_answer/gpt-4.jsonl"): PublishedFile(
        f"{_FASTCHAT}/mt_bench/reference_answer/gpt-4.jsonl",
        "f957a5bc977badb66885ec970e6cd08527845780313f0995764260e5777b9b3f"),
    ("ja_mt_bench", "question.jsonl"): PublishedFile(
        f"{_JP_STABLE}/japanese_mt_bench/question.jsonl", "ed8317804df333211a9e5182bb3903f8b8f0ed8739d0371cbf7b90b42e73deaa"),
    ("ja_mt_bench", "question_full.jsonl"): PublishedFile(
        f"{_JP_STABLE}/japanese_mt_bench/question_full.jsonl",
        "8f56c8bd5ff93d2120409bc8f77f0020e673c74548c9637f2aace12a323834e5"),
    ("ja_mt_bench", "judge_ja_prompts.jsonl"): PublishedFile(
        f"{_JP_STABLE}/judge_ja_prompts.jsonl", "a3ef723f4e282ced514c8919773549675f0c0f87a61e5a5f46c320b048803b40"),
    ("ja_mt_bench", "reference_answer/gpt-4.jsonl"): PublishedFile(
        f"{_JP_STABLE}/japanese_mt_bench/reference_answer/gpt-4.jsonl",
        "0631685c4ebc66390970588b658e4d19047fafb0a00ec1d841616686c07b0d6b"),
}


def data_cache_dir() -> Path:
    return cache_path(DATA_CACHE_ENV, "data")


def data_file(data_dir: Path | None, benchmark: str, name: str) -> Path:
    """`data_dir/benchmark/name`, or the published copy of it when no data folder is given."""
    if data_dir is not None:
        return local_file(data_dir, benchmark, name)
    published = PUBLISHED.get((benchmark, name))
    if published is None:
        raise EvalkitError(f"{benchmark}/{name} has no published source evalkit knows; pass --data-dir")
    target = data_cache_dir() / benchmark / name
    if target.is_file() and _sha256(target.read_bytes()) == published.sha256:
        return target
    body = fetch(published.url)
    if _sha256(body) != published.sha256:
        raise EvalkitError(f"{published.url} does not hold the pinned {benchmark}/{name} (SHA-256 differs)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(body)
    os.replace(tmp, target)
    return target


def fetch(url: str, timeout: float = 30.0) -> bytes:
    """The bytes at `url`; a one-line error when offline."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a pinned https URL
            return response.read()
    except OSError as exc:
        raise EvalkitError(
            f"could not download {url} ({type(exc).__name__}: {exc}); offline, pass --data-dir with a local copy "
            "laid out like ../shared/data"
        ) from None


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
