"""`openai/<model>`: any OpenAI-compatible endpoint, in completions or chat mode.

The request kind picks the endpoint: a completion request goes to /completions, a chat request to
/chat/completions. The client's own retries are off; ManagedBackend retries with its cap, and this
module only says which failures are worth another attempt.

Before the run sends anything, `check_reachable` asks the endpoint for GET /models: an absent
server, a refused key, a base URL that lacks the /v1 its API answers under, and a model name the
server does not serve are one-line errors; an endpoint that lists no models is not held up.
"""

from __future__ import annotations

import difflib
import email.utils
import json
import os
import time
from typing import Any, Sequence
from urllib.parse import urlsplit

from evalkit.backends.base import Backend, BackendKind, BackendSettings
from evalkit.errors import EvalkitError
from evalkit.redact import redact_url
from evalkit.types import Completion, Request, RequestError

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
# How servers refuse a structured-output request: OpenAI and vLLM answer 400/404/415/422; llama-cpp-python
# answers HTTP 500 with a validation error that names `response_format` (seen against the real server).
REFUSED_OPTION_STATUS = {400, 404, 415, 422}
MODELS_BODY_LIMIT = 8 << 20  # a /models answer larger than this is not read for the model check
LISTED_AT_MOST = 8  # model names a "not served" message shows


def parse_retry_after(headers: Any) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def base_url_flag(flag: str) -> str:
    """The flag that sets the endpoint of the model `flag` names: --base-url for --model, --judge-base-url for --judge."""
    return "--base-url" if flag == "--model" else f"{flag}-base-url"


def lacks_v1(base_url: str) -> bool:
    """Whether the base URL's path does not end in /v1, where OpenAI-compatible servers answer."""
    return not urlsplit(base_url).path.rstrip("/").endswith("/v1")


class OpenAIBackend(Backend):
    def __init__(self, model: str, base_url: str | None = None, timeout: float = 600.0, flag: str = "--model") -> None:
        self.model = model
        self.base_url = (base_url or OPENAI_DEFAULT_BASE_URL).rstrip("/")
        self.name = f"openai/{model}"
        self.timeout = timeout
        self.flag = flag  # the flag that named the model, for messages
        if not os.environ.get("OPENAI_API_KEY") and base_url is None:
            raise EvalkitError(
                "OPENAI_API_KEY is not set: export it, or point --base-url at a local OpenAI-compatible server"
            )
        # The SDK is imported and the client made at the first request, not here: `openai` takes
        # most of a second to import, which a run answered entirely from the cache never needs.
        self._openai: Any = None
        self._client: Any = None

    def _ensure_client(self) -> Any:
        if self._client is None:
            import openai

            api_key = os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers accept any key
            # The key lives only inside the client: it is never part of identity(), run.json or logs.
            self._openai = openai
            self._client = openai.AsyncOpenAI(
                api_key=api_key, base_url=self.base_url, max_retries=0, timeout=self.timeout
            )
        return self._client

    def identity(self) -> dict[str, Any]:
        return {"kind": "openai", "model": self.model, "base_url": redact_url(self.base_url)}

    async def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return [await self._generate_one(request) for request in requests]

    async def _generate_one(self, request: Request) -> Completion:
        client = self._ensure_client()
        openai = self._openai
        params = request.params
        options: dict[str, Any] = {"model": self.model, "max_tokens": params.max_tokens, "temperature": params.temperature}
        if params.stop:
            options["stop"] = list(params.stop)
        if params.seed is not None:
            options["seed"] = params.seed
        if params.top_p is not None:
            options["top_p"] = params.top_p
        if params.response_format is not None:
            options["response_format"] = json.loads(params.response_format)
        try:
            if request.kind == "completion":
                response = await client.completions.create(prompt=request.prompt, **options)
            else:
                response = await client.chat.completions.create(messages=request.chat_messages(), **options)
        except openai.APIStatusError as exc:
            message = self._not_found(exc) if exc.status_code == 404 else _short(exc.message)
            return Completion(text=None, error=status_error(request, exc.status_code, message,
                                                            parse_retry_after(exc.response.headers)))
        except openai.APITimeoutError:
            return Completion(text=None, error=RequestError(
                "timeout", f"no answer within {self.timeout:g} s", retryable=True))
        except openai.APIConnectionError as exc:
            return Completion(text=None, error=RequestError(
                "connection", _short(str(exc.__cause__ or exc)), retryable=True))
        except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError) as exc:
            return Completion(text=None, error=RequestError("malformed", _short(str(exc)), retryable=True))
        return self._parse(request, response)

    def _not_found(self, exc: Any) -> str:
        """A 404's message: which URL answered it, and the likely fix when the base URL lacks /v1."""
        try:
            url = redact_url(str(exc.response.request.url))
        except Exception:  # noqa: BLE001 - a response without its request: name the base URL instead
            url = f"an endpoint under {redact_url(self.base_url)}"
        message = f"{url} answered 404 ({_short(exc.message, 120)})"
        if lacks_v1(self.base_url):
            shown = redact_url(self.base_url)
            message += (f"; {base_url_flag(self.flag)} {shown} has no /v1: if the server's OpenAI API is under /v1, "
                        f"pass {base_url_flag(self.flag)} {shown}/v1")
        return message

    @staticmethod
    def _parse(request: Request, response: Any) -> Completion:
        choices = getattr(response, "choices", None)
        if not choices:
            return Completion(text=None, error=RequestError("malformed", "no choices in the response", retryable=True))
        choice = choices[0]
        text = getattr(choice, "text", None) if request.kind == "completion" else getattr(choice.message, "content", None)
        if not isinstance(text, str):
            return Completion(text=None, error=RequestError("malformed", "no text in the first choice", retryable=True))
        usage = getattr(response, "usage", None)
        return Completion(
            text=text,
            finish_reason=getattr(choice, "finish_reason", None),
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def status_error(request: Request, status: int, message: str, retry_after: float | None) -> RequestError:
    """The RequestError of an HTTP error answer. A request that asked for structured output and was
    refused for it is `unsupported` (not retried: the same request would be refused again), so the
    caller can ask again without that option."""
    if request.params.response_format is not None and (
        status in REFUSED_OPTION_STATUS or (status == 500 and "response_format" in message)
    ):
        return RequestError("unsupported", message, status=status)
    return RequestError("http", message, status=status, retryable=status in RETRYABLE_STATUS, retry_after=retry_after)


def check_reachable(base_url: str, timeout: float = 10.0, model: str | None = None, flag: str = "--model") -> None:
    """Fail fast, in one line, before anything is sent: nothing answers at the base URL, it refuses
    the key, its API answers under /v1 which the base URL lacks, or it lists models and `model` (the
    name sent to the server) is not one of them. An endpoint without /models (404, 405, 501, or an
    answer that lists no models) is not held up: the run proceeds as the user asked."""
    base_url = base_url.rstrip("/")
    shown = redact_url(base_url)
    status, body = _get_models(base_url, timeout, shown)
    if status is None:
        # Connected and asked, but no answer yet: a busy server, not an absent one. llama-cpp-python's
        # /models waits behind every queued generation. (A connect timeout is an error, in _get_models.)
        return
    if status in (401, 403):
        raise EvalkitError(f"{shown} refused the API key (HTTP {status}); check OPENAI_API_KEY")
    if status == 404 and lacks_v1(base_url):
        _refuse_missing_v1(base_url, min(timeout, 5.0), flag)
        return
    if model is not None and 200 <= status < 300:
        served = served_models(body)
        if served and not any(_same_model(model, name) for name in served):
            raise EvalkitError(not_served_message(shown, model, served, flag))


def _get_models(base_url: str, timeout: float, shown: str) -> tuple[int | None, bytes | None]:
    """GET {base_url}/models: (status, body of a 2xx answer), (None, None) when the server took the
    request but did not answer in time; a one-line error when nothing answers there at all."""
    import urllib.error
    import urllib.request

    key = os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers accept any key; never shown
    request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            try:
                return response.status, response.read(MODELS_BODY_LIMIT + 1)
            except TimeoutError:
                return None, None
            except OSError:  # the answer broke off: reachable, but nothing to check the model against
                return response.status, None
    except urllib.error.HTTPError as exc:  # the server answered with an error status
        return exc.code, None
    except TimeoutError:
        return None, None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EvalkitError(
            f"cannot reach the model server at {shown} ({_short(str(reason))}); is it running, and is --base-url right?"
        ) from None


def _refuse_missing_v1(base_url: str, timeout: float, flag: str) -> None:
    """/models is not found at the base URL: when {base_url}/v1/models answers, the base URL lacks
    its /v1, and every request of the run would get 404. Anything else is left to the run."""
    with_v1 = f"{base_url}/v1"
    try:
        status, _ = _get_models(with_v1, timeout, redact_url(with_v1))
    except EvalkitError:
        return
    if status is not None and (200 <= status < 300 or status in (401, 403)):
        option = base_url_flag(flag)
        raise EvalkitError(f"{option} {redact_url(base_url)} has no OpenAI API at /models; it answers at "
                           f"{redact_url(with_v1)}: pass {option} {redact_url(with_v1)}")


def served_models(body: bytes | None) -> list[str]:
    """The model names of a /models answer ({"data": [{"id": ...}, ...]}), sorted; [] when the answer
    lists none (not JSON, another shape, too large, or a wildcard route that serves any name)."""
    if not body or len(body) > MODELS_BODY_LIMIT:
        return []
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    names = sorted({item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)})
    return [] if any("*" in name for name in names) else names


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


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def create(model: str, settings: BackendSettings) -> OpenAIBackend:
    backend = OpenAIBackend(model, base_url=settings.base_url, timeout=settings.request_timeout, flag=settings.flag)
    if settings.check_server:
        check_reachable(backend.base_url, model=model, flag=settings.flag)
    return backend


KIND = BackendKind("openai", "openai/<model> (with --base-url for a local server)", create)
