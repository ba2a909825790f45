"""Reading a folder llm-jp-eval has already preprocessed (evaluation/{test,train}/<dataset>.json), so prompts match it by construction.

Point `-T jaster_dir=PATH` at the folder that holds `evaluation/` (or at `evaluation/` itself). Each
test file brings llm-jp-eval's own instruction, output length and metrics; few-shot examples are
the file's `few_shots` (older versions) or the first samples of evaluation/train/<dataset>.json.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster.examples import Example, Splits, gold, read_json


@dataclass(frozen=True)
class Preprocessed:
    """One dataset as llm-jp-eval wrote it: its splits and the settings its test file carries."""

    splits: Splits
    instruction: str
    output_length: int
    metrics: tuple[str, ...]
    labels: tuple[str, ...]
    fingerprint: str
    files: tuple[str, ...]


def evaluation_dir(root: Path) -> Path:
    """The evaluation/ folder of `-T jaster_dir=ROOT` (ROOT may be that folder itself)."""
    for candidate in (root / "evaluation", root):
        if (candidate / "test").is_dir():
            return candidate.resolve()
    raise EvalkitError(f"-T jaster_dir={root} holds no evaluation/test folder (llm-jp-eval's preprocessed output)")


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
    test = _samples(test_path, data)
    for field_name in ("instruction", "output_length", "metrics"):
        if field_name not in data:
            raise EvalkitError(f"{test_path}: lacks '{field_name}'")
    files = [test_path]
    if isinstance(data.get("few_shots"), list):
        shots, source = _samples(test_path, data, "few_shots"), "test file few_shots"
    else:
        train_path = evaluation_dir / "train" / f"{name}.json"
        if train_path.is_file():
            shots, source = _samples(train_path, read_json(train_path)), "train"
            files.append(train_path)
        else:
            shots, source = [], "none (no evaluation/train file)"
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return Preprocessed(
        splits=Splits(test=test, fewshot=shots, fewshot_source=source),
        instruction=str(data["instruction"]).strip(),
        output_length=int(data["output_length"]),
        metrics=tuple(data["metrics"]),
        labels=tuple(str(label) for label in data.get("label_list") or ()),
        fingerprint=digest.hexdigest(),
        files=tuple(str(p) for p in files),
    )
