"""`replay/<path.jsonl>`: score outputs produced elsewhere.

One line per sample: {"task": ..., "sample_id": ..., "output": "..."}; `output` is a list of
strings for multi-turn tasks. A sample missing from the file is recorded as an error on its item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from evalkit.backends.base import Backend, BackendKind
from evalkit.data import iter_jsonl
from evalkit.errors import EvalkitError
from evalkit.types import Completion, Request, RequestError


def load_replay_file(path: Path) -> dict[tuple[str, str], list[str]]:
    if not path.is_file():
        raise EvalkitError(f"replay file {path} does not exist")
    outputs: dict[tuple[str, str], list[str]] = {}
    try:
        rows = list(iter_jsonl(path, repair=False))  # answers as written: ManagedBackend repairs and flags them
    except EvalkitError as exc:
        raise EvalkitError(f"replay file {exc}: each line must be one JSON object with task, sample_id and output; "
                           "fix that line, then run the command again") from None
    for lineno, row in rows:
        where = f"{path}:{lineno}"
        missing = [field for field in ("task", "sample_id", "output") if field not in row]
        if missing:
            raise EvalkitError(f"{where}: missing {', '.join(missing)}")
        task, sample_id, output = row["task"], row["sample_id"], row["output"]
        if not isinstance(task, str) or isinstance(sample_id, bool) or not isinstance(sample_id, (str, int)):
            raise EvalkitError(f"{where}: task must be a string and sample_id a string or integer")
        if isinstance(output, str):
            output = [output]
        if not isinstance(output, list) or not all(isinstance(o, str) for o in output):
            raise EvalkitError(f"{where}: output must be a string or a list of strings")
        key = (task, str(sample_id))
        if key in outputs:
            raise EvalkitError(f"{where}: {task} sample {sample_id} appears twice")
        outputs[key] = output
    return outputs


class ReplayBackend(Backend):
    max_batch_size = 1024
    cacheable = False

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        self.name = f"replay/{path}"
        self._outputs = load_replay_file(self.path)

    def identity(self) -> dict[str, Any]:
        return {"kind": "replay", "path": str(self.path)}

    async def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return [self._answer(r) for r in requests]

    def plan_notes(self, planned: Mapping[str, Sequence[str]]) -> list[str]:
        """The run's samples the file has no line for, and the file's lines no sample of the run asks for."""
        wanted = {(task, sample_id) for task, ids in planned.items() for sample_id in ids}
        missing = [key for task, ids in planned.items() for key in ((task, i) for i in ids) if key not in self._outputs]
        unknown = [key for key in self._outputs if key not in wanted]
        notes = []
        if missing:
            notes.append(f"{len(missing)} of {len(wanted)} samples have no line in {self.path} (first: "
                         f"{missing[0][0]} sample {missing[0][1]}): they will be recorded as failed; add their lines, "
                         "or pass --limit N to run only the first N of each task")
        if unknown:
            notes.append(f"{len(unknown)} line(s) of {self.path} match no sample of this run (first: {unknown[0][0]} "
                         f"sample {unknown[0][1]}): ignored; check their task and sample_id (evalkit dump writes both)")
        return notes

    def failure_advice(self, kind: str) -> str | None:
        if kind == "missing":
            return (f"add the missing samples' lines to {self.path} (or pass --limit N for the first N of each task), "
                    "then run the same command again")
        return None

    def _answer(self, request: Request) -> Completion:
        outputs = self._outputs.get((request.task, request.sample_id))
        if outputs is None:
            return Completion(text=None, error=RequestError(
                "missing", f"the replay file has no output for {request.task} sample {request.sample_id}"))
        if request.turn >= len(outputs):
            return Completion(text=None, error=RequestError(
                "missing", f"the replay file has no output for turn {request.turn + 1}"))
        return Completion(text=outputs[request.turn])


KIND = BackendKind("replay", "replay/<outputs.jsonl>", lambda path, settings: ReplayBackend(path))
