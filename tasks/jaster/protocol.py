"""llm-jp-eval's protocol texts: its prompt frame and each dataset's instruction, output length and metrics.

evalkit's `jaster` sends what llm-jp-eval sends. Those texts are llm-jp-eval's, so they are read
from llm-jp-eval's own published files, never written into evalkit:

- each dataset's instruction, output length, metrics and label list: the head of llm-jp-eval's
  preprocessed test file, `evaluation/test/<dataset>.json`;
- the frame (what comes before the instruction, each few-shot block, the query block):
  `prompt_frame.json`, a JSON object with `head` ({instruction}), `shot` ({input}, {output}) and
  `query` ({input}) templates and a `version` line naming the llm-jp-eval release they are from.

A protocol folder holds both: `prompt_frame.json` beside `evaluation/`. evalkit looks for it in
`-T protocol_dir`, else in `-T jaster_dir` (a user's llm-jp-eval output with the frame file added),
else in `DATA_DIR/jaster/llm-jp-eval-1.3.0`. The dataset heads come from `-T jaster_dir` when one is
given (the run reads that output's samples too), else from the protocol folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from evalkit.errors import EvalkitError
from evalkit.tasks.jaster.examples import Example, read_json
from evalkit.fingerprint import hash_file

PROTOCOL = "llm-jp-eval-1.3.0"  # the release whose frame and instructions `jaster` follows by default
EVALKIT_PROFILE = "evalkit"  # evalkit's own wording (templates/), a non-default profile
PROFILES = (PROTOCOL, EVALKIT_PROFILE)
FRAME_FILE = "prompt_frame.json"
DATA_SUBDIR = Path("jaster") / PROTOCOL  # where a data folder keeps the protocol files


@dataclass(frozen=True)
class Frame:
    """A completion frame: head (with the instruction), one block per few-shot, the query block."""

    head: str
    shot: str
    query: str
    name: str
    sha256: str = ""

    def prefix(self, instruction: str, shots: Sequence[Example]) -> str:
        return self.head.format(instruction=instruction) + "".join(
            self.shot.format(input=shot.input, output=shot.output) for shot in shots)

    def query_block(self, text: str) -> str:
        return self.query.format(input=text)

    def check(self, where: str) -> "Frame":
        """Each template names exactly the fields it is given; anything else fails here, not mid-run."""
        try:
            self.prefix("i", [Example("x", "y")])
            self.query_block("x")
        except (KeyError, IndexError, ValueError) as exc:
            raise EvalkitError(f"{where}: a template asks for a field it is not given ({exc!r}); "
                               "head takes {instruction}, shot {input} and {output}, query {input}") from None
        return self


@lru_cache(maxsize=8)
def load_frame(path: Path) -> Frame:
    raw = read_json(path)
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) for k in ("head", "shot", "query")):
        raise EvalkitError(f"{path}: a prompt frame is a JSON object with string 'head', 'shot' and 'query'")
    return Frame(raw["head"], raw["shot"], raw["query"], name=str(raw.get("version") or path),
                 sha256=hash_file(path)).check(str(path))


@dataclass(frozen=True)
class DatasetHead:
    """What llm-jp-eval's test file says of a dataset besides its samples."""

    instruction: str
    output_length: int
    metrics: tuple[str, ...]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """Which llm-jp-eval release wrote an evaluation/ folder, as far as its files tell."""

    name: str
    evaluation: Path


def find_evaluation(root: Path) -> Layout:
    """The evaluation/ folder under ROOT, in each layout llm-jp-eval has written:

    - `ROOT/evaluation/{test,train}` (1.x: `preprocess_dataset.py --output-dir ROOT`), or ROOT itself;
    - `ROOT/<version>/evaluation/...` (1.4 and later write under a version folder; the newest is read).
    """
    for candidate in (root / "evaluation", root):
        if (candidate / "test").is_dir():
            return Layout("evaluation/test", candidate.resolve())
    versioned = sorted((p for p in root.glob("*/evaluation") if (p / "test").is_dir()),
                       key=lambda p: _version_key(p.parent.name))
    if versioned:
        return Layout(f"{versioned[-1].parent.name}/evaluation/test", versioned[-1].resolve())
    raise EvalkitError(f"{root} holds no evaluation/test folder (llm-jp-eval's preprocessed output)")


def _version_key(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else -1 for part in name.lstrip("v").split("."))


def read_head(path: Path, data: object) -> DatasetHead:
    """The head of one test file; `data` is the file's parsed JSON."""
    if not isinstance(data, dict):
        raise EvalkitError(f"{path}: expected llm-jp-eval's format, a JSON object")
    missing = [k for k in ("instruction", "output_length", "metrics") if k not in data]
    if missing:
        raise EvalkitError(f"{path}: lacks {', '.join(repr(k) for k in missing)}")
    if not isinstance(data["metrics"], list) or not data["metrics"]:
        raise EvalkitError(f"{path}: 'metrics' is not a non-empty list")
    try:
        output_length = int(data["output_length"])
    except (TypeError, ValueError):
        raise EvalkitError(f"{path}: 'output_length' is not a number") from None
    return DatasetHead(
        instruction=str(data["instruction"]),
        output_length=output_length,
        metrics=tuple(str(m) for m in data["metrics"]),
        labels=tuple(str(label) for label in data.get("label_list") or ()),
    )


@lru_cache(maxsize=64)
def _head_of(path: Path) -> DatasetHead:
    return read_head(path, read_json(path))


@dataclass(frozen=True)
class Protocol:
    """llm-jp-eval's texts for a run: the frame, and where each dataset's head is read."""

    frame: Frame
    frame_path: Path
    evaluation: Layout

    def head(self, dataset: str) -> DatasetHead:
        path = self.evaluation.evaluation / "test" / f"{dataset}.json"
        if not path.is_file():
            raise EvalkitError(f"jaster:{dataset}: llm-jp-eval's instruction for it is not in {path.parent} "
                               f"(use -T prompts={EVALKIT_PROFILE} for evalkit's own wording)")
        return _head_of(path)

    def info(self) -> dict:
        """What run.json records of the protocol: the release, the files its texts came from, their hashes."""
        return {"name": PROTOCOL, "frame": self.frame.name, "frame_file": str(self.frame_path),
                "frame_sha256": self.frame.sha256, "instructions": str(self.evaluation.evaluation / "test"),
                "layout": self.evaluation.name}


def locate(protocol_dir: Path | None, jaster_dir: Path | None, data_dir: Path | None) -> Protocol:
    """The protocol files for a run (see the module docstring for the order); one line when there are none."""
    candidates = [p for p in (protocol_dir, jaster_dir, data_dir / DATA_SUBDIR if data_dir else None) if p is not None]
    frame_path = next((p / FRAME_FILE for p in candidates if (p / FRAME_FILE).is_file()), None)
    if frame_path is None:
        looked = ", ".join(str(p / FRAME_FILE) for p in candidates) or "nowhere (no --data-dir, -T jaster_dir or -T protocol_dir)"
        raise EvalkitError(
            f"jaster follows {PROTOCOL}, whose prompt frame and instructions are read from its published files; "
            f"looked for {looked}. Pass --data-dir holding {DATA_SUBDIR}/, or -T protocol_dir=DIR "
            f"(prompt_frame.json beside llm-jp-eval's evaluation/), or -T prompts={EVALKIT_PROFILE} for evalkit's own wording")
    heads_root = jaster_dir if jaster_dir is not None else frame_path.parent
    return Protocol(load_frame(frame_path), frame_path, find_evaluation(heads_root))
