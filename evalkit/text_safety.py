"""Text that is not valid Unicode, made safe to store, show and score: U+FFFD in place of each lone surrogate.

A server's JSON (or a replay file, or any JSON line) may hold a "\\ud800" escape with no partner; Python
decodes it to a lone surrogate, which no UTF-8 file, SQLite row or terminal accepts. Such text is
repaired once, where it enters evalkit (`ManagedBackend.stream` for every backend's and judge's
answers, `SampleRecord` for any record), and the text as it came is kept beside it, each surrogate
written as a \\uXXXX escape (`SampleRecord.escaped_outputs`), so nothing is lost and a re-run
repairs it the same way.
"""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass, replace
from typing import Any

from evalkit.types import Completion, Reply

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def is_valid_unicode(text: str) -> bool:
    return _SURROGATE.search(text) is None


def repaired(text: str) -> str:
    """`text` with U+FFFD for each lone surrogate; a high and a low surrogate side by side become the
    character they encode, as UTF-16 reads them."""
    if is_valid_unicode(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def escaped(text: str) -> str:
    """`text` with each surrogate written as a \\uXXXX escape: valid text that still says what came. Inside a
    JSON document (where a surrogate can only stand in a string) this is the escape JSON reads back."""
    return _SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def repaired_value(value: Any) -> Any:
    """`value` (strings, lists, dicts, dataclasses such as RequestError) with every string in it repaired,
    dictionary keys included."""
    if isinstance(value, str):
        return repaired(value)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: repaired_value(getattr(value, f.name)) for f in fields(value) if f.init})
    if isinstance(value, dict):
        return {repaired_value(key): repaired_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(repaired_value(item) for item in value)
    return value


def safe_completion(completion: Completion) -> Completion:
    """The completion with every text in it valid Unicode (`received` set when its text was repaired);
    the same object when it already was."""
    error = completion.error
    if error is not None and not is_valid_unicode(error.message):
        completion = replace(completion, error=replace(error, message=repaired(error.message)))
    if completion.finish_reason is not None and not is_valid_unicode(completion.finish_reason):
        completion = replace(completion, finish_reason=repaired(completion.finish_reason))
    text = completion.text
    if text is None or is_valid_unicode(text):
        return completion
    return replace(completion, text=repaired(text), received=escaped(text))


def received_reply(completion: Completion) -> Reply | None:
    """The completion's reply as it came: its text escaped when it was repaired, else the reply itself."""
    return completion.received if completion.received is not None else completion.reply
