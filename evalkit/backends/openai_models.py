"""GET /models of an OpenAI-compatible endpoint: the check before a run, and the entry that describes the model.

Before the run sends anything, `check_reachable` asks each endpoint for its /models: an absent
server, a refused key, a base URL that lacks the /v1 its API answers under, and a model name the
server does not serve are one-line errors; an endpoint that lists no models is not held up. The
model's entry in the listing (llama.cpp's `meta`, vLLM's `root`, `owned_by`, ...) says which model
answers, and keys the request cache (see OpenAIBackend.identity).
"""

from __future__ import annotations

import difflib
import json
import os
import time
from typing import Any, Sequence
from urllib.parse import urlsplit

from evalkit.errors import EvalkitError
from evalkit.redact import redact_url
from evalkit.text_safety import repaired_value

MODELS_BODY_LIMIT = 8 << 20  # a /models answer larger than this is not read for the model check
LISTED_AT_MOST = 8  # model names a "not served" message shows
# An entry nested deeper than this describes no model (llama.cpp's is 2 deep); it would only strain
# every recursive reader after it (the cache key, run.json).
ENTRY_NESTING_LIMIT = 16


class Unreachable(EvalkitError):
    """Nothing answers at an endpoint (refused, no route, no such host); `reason` says which."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def base_url_flag(flag: str) -> str:
    """The flag that sets the endpoint of the model `flag` names: --base-url for --model, --judge-base-url for --judge."""
    return "--base-url" if flag == "--model" else f"{flag}-base-url"


def lacks_v1(base_url: str) -> bool:
    """Whether the base URL's path does not end in /v1, where OpenAI-compatible servers answer."""
    return not urlsplit(base_url).path.rstrip("/").endswith("/v1")


def unreachable_message(base_url: str, reason: str, flag: str = "--model") -> str:
    return (f"cannot reach the model server at {redact_url(base_url)} ({reason}); is it running, and is "
            f"{base_url_flag(flag)} right?")


def check_reachable(base_url: str, timeout: float = 10.0, model: str | None = None,
                    flag: str = "--model") -> dict[str, Any] | None:
    """Fail fast, in one line, before anything is sent: nothing answers at the base URL (Unreachable),
    it refuses the key, its API answers under /v1 which the base URL lacks, or it lists models and
    `model` (the name sent to the server) is not one of them. An endpoint without /models (404, 405,
    501, or an answer that lists no models) is not held up: the run proceeds as the user asked.
    Returns the listing's entry for `model`, None when there is none to read."""
    base_url = base_url.rstrip("/")
    shown = redact_url(base_url)
    status, body = _get_models(base_url, timeout, flag)
    if status is None:
        # Connected and asked, but no answer yet: a busy server, not an absent one. llama-cpp-python's
        # /models waits behind every queued generation. (A connect timeout is an error, in _get_models.)
        return None
    if status in (401, 403):
        raise EvalkitError(f"{shown} refused the API key (HTTP {status}); check OPENAI_API_KEY")
    if status == 404 and lacks_v1(base_url):
        _refuse_missing_v1(base_url, min(timeout, 5.0), flag)
        return None
    if model is None or not 200 <= status < 300:
        return None
    served = served_models(body)
    if served and not any(_same_model(model, name) for name in served):
        raise EvalkitError(not_served_message(shown, model, served, flag))
    return model_entry(body, model)


def _get_models(base_url: str, timeout: float, flag: str) -> tuple[int | None, bytes | None]:
    """GET {base_url}/models: (status, body of a 2xx answer), (None, None) when the server took the
    request but did not answer in full within `timeout`; Unreachable when nothing answers there."""
    import urllib.error
    import urllib.request

    key = os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers accept any key; never shown
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {key}"})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = bytearray()
            try:
                # Read by pieces against one deadline: a socket timeout bounds each read only, and a
                # server that trickles an endless answer would otherwise hold the check forever.
                while len(body) <= MODELS_BODY_LIMIT:
                    if time.monotonic() > deadline:
                        return None, None
                    piece = response.read1(1 << 16)
                    if not piece:
                        break
                    body += piece
            except TimeoutError:
                return None, None
            except OSError:  # the answer broke off: reachable, but nothing to check the model against
                return response.status, None
            return response.status, bytes(body)
    except urllib.error.HTTPError as exc:  # the server answered with an error status
        return exc.code, None
    except TimeoutError:
        return None, None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = shorten(str(getattr(exc, "reason", exc)))
        raise Unreachable(unreachable_message(base_url, reason, flag), reason) from None


def _refuse_missing_v1(base_url: str, timeout: float, flag: str) -> None:
    """/models is not found at the base URL: when {base_url}/v1/models answers, the base URL lacks
    its /v1, and every request of the run would get 404. Anything else is left to the run."""
    with_v1 = f"{base_url}/v1"
    try:
        status, _ = _get_models(with_v1, timeout, flag)
    except EvalkitError:
        return
    if status is not None and (200 <= status < 300 or status in (401, 403)):
        option = base_url_flag(flag)
        raise EvalkitError(f"{option} {redact_url(base_url)} has no OpenAI API at /models; it answers at "
                           f"{redact_url(with_v1)}: pass {option} {redact_url(with_v1)}")


def _listed(body: bytes | None) -> list[dict[str, Any]]:
    """The entries of a /models answer ({"data": [{"id": ...}, ...]}) that name a model."""
    if not body or len(body) > MODELS_BODY_LIMIT:
        return []
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return []
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]


def served_models(body: bytes | None) -> list[str]:
    """The model names of a /models answer, sorted; [] when the answer lists none (not JSON, another
    shape, too large, or a wildcard route that serves any name)."""
    names = sorted({item["id"] for item in _listed(body)})
    return [] if any("*" in name for name in names) else names


def model_entry(body: bytes | None, model: str) -> dict[str, Any] | None:
    """The entry of a /models answer for `model`: the one listed under that very name, else the one a
    request for it reaches (Ollama's NAME:latest); None when none does or the listing is a wildcard.
    Its text is repaired (a lone surrogate, which JSON may carry, can go into no cache key or run.json)."""
    if not served_models(body):
        return None
    entries = _listed(body)
    exact = [item for item in entries if item["id"] == model]
    entry = (exact or [item for item in entries if _same_model(model, item["id"])] or [None])[0]
    return repaired_value(entry) if entry is not None and _nesting(entry) <= ENTRY_NESTING_LIMIT else None


def _nesting(value: Any) -> int:
    """How deep lists and objects nest in a parsed JSON value (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _same_model(requested: str, served: str) -> bool:
    """Whether a request for `requested` reaches `served`: Gemini's OpenAI API lists `models/NAME`
    and answers NAME; Ollama lists `NAME:latest` and answers NAME."""
    return bool(_spellings(requested) & _spellings(served))


def _spellings(name: str) -> set[str]:
    names = {name, name.removeprefix("models/")}
    return names | {n.removesuffix(":latest") for n in names}


def not_served_message(shown: str, model: str, served: Sequence[str], flag: str) -> str:
    """One line: what the server serves instead of `model`, and the --model (or --judge) to pass."""
    close = difflib.get_close_matches(model, served, n=3, cutoff=0.6)
    listed = close + [name for name in served if name not in close]
    names = ", ".join(listed[:LISTED_AT_MOST])
    if len(listed) > LISTED_AT_MOST:
        names += f" and {len(listed) - LISTED_AT_MOST} more (GET {shown}/models lists them)"
    if len(served) == 1:
        fix = f"pass {flag} openai/{served[0]}"
    elif close:
        fix = f"pass {flag} openai/{close[0]} (or another of them)"
    else:
        fix = f"pass {flag} openai/<one of them>"
    return f"the server at {shown} serves {names}, not {model!r}: {fix}"


def shorten(text: str, limit: int = 200) -> str:
    """Text on one line, at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
