"""SampleRecord: one line of samples.jsonl, typed, and the reading of lines an older evalkit wrote.

The schema is versioned with the run folder (`format` in run.json) and published as JSON Schema in
evalkit/schemas/sample-record.schema.json, generated from this model (tests/test_run_files.py keeps
the two equal). Every part of evalkit that reads a run reads these, never raw dicts.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from typing_extensions import TypedDict  # pydantic reads field types from it on Python < 3.12

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from evalkit.errors import EvalkitError
from evalkit.text_safety import escaped, is_valid_unicode, repaired_value
from evalkit.types import Loglikelihood, RequestError


class ChatMessage(TypedDict):
    role: str
    content: str


def sample_order(sample_id: str) -> tuple[int, str]:
    """How sample ids sort for people: numeric ids as numbers (2 before 10), then the others by text."""
    return (int(sample_id), "") if sample_id.isdigit() else (1 << 30, sample_id)


class SampleRecord(BaseModel):
    """One answered (or failed) sample: where it belongs, what was asked, what came back, how it scored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    sample_id: str
    choice: int = Field(default=0, ge=0, description="which of several sampled answers (--num-samples)")
    genre: str
    prompt: str | None = Field(default=None, description="the completion prompt (completion tasks)")
    messages: list[ChatMessage] | None = Field(default=None, description="the last turn's chat (chat tasks)")
    outputs: list[str | Loglikelihood] = Field(
        default_factory=list, description="the replies, one per turn (a log-likelihood task: one per request, in "
                                          "request order); fewer when a request failed")
    target: str | None = None
    answer: str | None = Field(default=None, description="the strictly extracted answer")
    scores: dict[str, float | None] = Field(default_factory=dict, description="every metric; None: not scorable")
    format_ok: bool | None = Field(default=None, description="whether the reply followed the required format")
    details: dict[str, Any] = Field(default_factory=dict, description="what each extraction or judgment found")
    error: RequestError | None = Field(default=None, description="why the model gave no answer; None when it did")
    cached: bool = False
    finish_reason: str | None = None
    escaped_outputs: list[str | Loglikelihood] | None = Field(
        default=None, description="set only when a reply was not valid Unicode (a lone surrogate such as \\ud800): "
                                  "every reply as it came, each surrogate written as a \\uXXXX escape; `outputs` "
                                  "holds U+FFFD in its place")

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any, info: ValidationInfo) -> Any:
        """A record built from text that is not valid Unicode (a data file's, an imported one's) holds it
        repaired (evalkit.text_safety), its replies as they came in `escaped_outputs`. JSON input needs
        no look: pydantic's reader refuses a lone surrogate, and parse_record repairs such lines."""
        if info.mode == "json" or not isinstance(data, dict):
            return data
        if is_valid_unicode(json.dumps(data, ensure_ascii=False, default=str)):
            return data
        outputs = data.get("outputs")
        if data.get("escaped_outputs") is None and isinstance(outputs, list) and not all(
                is_valid_unicode(o) for o in outputs if isinstance(o, str)):
            data = {**data, "escaped_outputs": [escaped(o) if isinstance(o, str) else o for o in outputs]}
        return repaired_value(data)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task, self.sample_id, self.choice)

    @property
    def answered(self) -> bool:
        """Whether every request of the sample was answered (its outputs can be scored)."""
        return self.error is None

    def to_line(self) -> str:
        return self.model_dump_json(exclude_defaults=False) + "\n"


def parse_record(line: bytes | str, where: str, legacy: bool = False) -> SampleRecord:
    """One samples.jsonl line; `legacy` for a line of an evalkit-run/1 folder. A line that does not
    fit is an error naming `where` (file:line) and the first field that is wrong."""
    fix = "fix or delete that line, then run the command again"
    try:
        if not legacy:
            return _read_line(line)
        return SampleRecord.model_validate(upgrade_v1_record(json.loads(line)))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the line"
        raise EvalkitError(f"{where}: not an evalkit sample record ({field}: {first['msg']}); {fix}") from None
    except (ValueError, TypeError, RecursionError) as exc:  # json's errors, and a v1 line that is not an object
        raise EvalkitError(f"{where}: not an evalkit sample record ({str(exc)[:200]}); {fix}") from None


def _read_line(line: bytes | str) -> SampleRecord:
    try:
        return SampleRecord.model_validate_json(line)
    except ValidationError as exc:
        if exc.errors()[0]["type"] != "json_invalid":
            raise
        try:  # Python's JSON reader takes a lone surrogate's escape, which pydantic's refuses; the record repairs it
            data = json.loads(line)
        except (ValueError, RecursionError):
            raise exc from None
        return SampleRecord.model_validate(data)


# --- evalkit-run/1 --------------------------------------------------------------------------------

_V1_ERROR = re.compile(r"^(?:HTTP (?P<status>\d{3})|(?P<kind>timeout|connection|malformed response|replay|vllm))\b:?\s*")
_V1_KINDS = {"timeout": "timeout", "connection": "connection", "malformed response": "malformed", "replay": "missing",
             "vllm": "engine"}
_V1_ATTEMPTS = re.compile(r" \(after (\d+) attempts\)$")


def upgrade_v1_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """An evalkit-run/1 line in today's shape: `output` (a string, a list or null) becomes `outputs`,
    and the error message becomes a RequestError. Version 1 kept errors only as text, so this is
    the one place that reads a kind out of a message, once, for old files."""
    if not isinstance(row, Mapping):
        raise TypeError("expected a JSON object")
    record = dict(row)
    if "output" in record:  # a line already upgraded (a kill during the upgrade) has `outputs`
        output = record.pop("output")
        record["outputs"] = [output] if isinstance(output, str) else list(output or [])
    if "sample_id" in record and not isinstance(record["sample_id"], bool):
        record["sample_id"] = str(record["sample_id"])
    if isinstance(record.get("error"), str):
        record["error"] = _v1_error(record["error"])
    return record


def _v1_error(text: str) -> RequestError:
    attempts = _V1_ATTEMPTS.search(text)
    message = text[: attempts.start()] if attempts else text
    match = _V1_ERROR.match(message)
    if match is None:
        return RequestError("engine", message, attempts=int(attempts.group(1)) if attempts else 1)
    status = match.group("status")
    kind = "http" if status else _V1_KINDS[match.group("kind")]
    return RequestError(kind, message[match.end():] or message, status=int(status) if status else None,  # type: ignore[arg-type]
                        attempts=int(attempts.group(1)) if attempts else 1)
