"""Reading a folder llm-jp-eval has already preprocessed (evaluation/{test,train}/<dataset>.json), so prompts match it by construction.

Point `-T jaster_dir=PATH` at the folder llm-jp-eval wrote (see protocol.find_evaluation for the
layouts read). Each test file brings llm-jp-eval's own instruction, output length and metrics.
Few-shot examples are the file's `few_shots` when it has some (early releases), else the first
samples of evaluation/train/<dataset>.json, as llm-jp-eval takes them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster.examples import Example, Splits, gold, read_json
from evalkit.tasks.jaster.protocol import DatasetHead, read_head


@dataclass(frozen=True)
class Preprocessed:
    """One dataset as llm-jp-eval wrote it: its splits and the head of its test file."""

    splits: Splits
    head: DatasetHead
    fingerprint: str
    files: tuple[str, ...]
    later_keys: tuple[str, ...] = ()  # settings of a later release that 1.3.0's protocol does not apply


# What later llm-jp-eval releases add to a test file that changes how replies are read or prompts built;
# evalkit's `jaster` follows 1.3.0 and says so when it meets them.
LATER_RELEASE_KEYS = ("answer_extract_pattern", "answer_pattern_id", "num_few_shots", "custom_prompt_template")


def available(evaluation_dir: Path) -> list[str]:
    return sorted(p.stem for p in (evaluation_dir / "test").glob("*.json"))


def _samples(path: Path, data: object, key: str = "samples") -> list[Example]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise EvalkitError(f"{path}: expected llm-jp-eval's format, an object with a '{key}' list")
    out = []
    for i, item in enumerate(data[key]):
        if not isinstance(item, dict) or "input" not in item or "output" not in item:
            raise EvalkitError(f"{path}: {key}[{i}] lacks input / output")
        out.append(Example(str(item["input"]), gold(item["output"]), id=str(i)))
    return out


def load_preprocessed(evaluation_dir: Path, name: str) -> Preprocessed:
    test_path = evaluation_dir / "test" / f"{name}.json"
    if not test_path.is_file():
        raise EvalkitError(f"jaster:{name}: {test_path} does not exist (-T jaster_dir)")
    data = read_json(test_path)
    head = read_head(test_path, data)
    test = _samples(test_path, data)
    files = [test_path]
    train_path = evaluation_dir / "train" / f"{name}.json"
    if data.get("few_shots"):
        shots, source = _samples(test_path, data, "few_shots"), "the test file's few_shots"
    elif train_path.is_file():
        shots, source = _samples(train_path, read_json(train_path)), f"train ({train_path})"
        files.append(train_path)
    else:
        shots, source = [], f"none: no few_shots in the test file and no {train_path}"
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return Preprocessed(
        splits=Splits(test=test, fewshot=shots, fewshot_source=source),
        head=head,
        fingerprint=digest.hexdigest(),
        files=tuple(str(p) for p in files),
        later_keys=tuple(k for k in LATER_RELEASE_KEYS if data.get(k) not in (None, "", [])),
    )
