"""`openai/<model>`: any OpenAI-compatible endpoint, in completions or chat mode.

The request kind picks the endpoint: a completion request goes to /completions, a chat request to
/chat/completions. The client's own retries are off; ManagedBackend retries with its cap, and this
module only says which failures are worth another attempt.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from typing import Any, Sequence

from evalkit.backends.base import Backend, BackendKind, BackendSettings
from evalkit.errors import EvalkitError
from evalkit.redact import redact_url
from evalkit.types import Completion, Request, RequestError

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}
# How servers refuse a structured-output request: OpenAI and vLLM answer 400/404/415/422; llama-cpp-python
# answers HTTP 500 with a validation error that names `response_format` (seen against the real server).
REFUSED_OPTION_STATUS = {400, 404, 415, 422}


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


class OpenAIBackend(Backend):
    def __init__(self, model: str, base_url: str | None = None, timeout: float = 600.0) -> None:
        self.model = model
        self.base_url = (base_url or OPENAI_DEFAULT_BASE_URL).rstrip("/")
        self.name = f"openai/{model}"
        self.timeout = timeout
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
            return Completion(text=None, error=status_error(request, exc.status_code, _short(exc.message),
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


def check_reachable(base_url: str, timeout: float = 10.0) -> None:
    """Fail fast, in one line, when nothing answers at the base URL or it refuses the key."""
    import urllib.error
    import urllib.request

    key = os.environ.get("OPENAI_API_KEY") or "EMPTY"
    shown = redact_url(base_url)
    request = urllib.request.Request(f"{base_url.rstrip('/')}/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:  # the server answered: reachable, unless it refused the key
        if exc.code in (401, 403):
            raise EvalkitError(f"{shown} refused the API key (HTTP {exc.code}); check OPENAI_API_KEY") from None
    except TimeoutError:
        # Connected and asked, but no answer yet: a busy server, not an absent one. llama-cpp-python's
        # /models waits behind every queued generation. (A connect timeout arrives as URLError, below.)
        return
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EvalkitError(
            f"cannot reach the model server at {shown} ({_short(str(reason))}); is it running, and is --base-url right?"
        ) from None


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def create(model: str, settings: BackendSettings) -> OpenAIBackend:
    backend = OpenAIBackend(model, base_url=settings.base_url, timeout=settings.request_timeout)
    if settings.check_server:
        check_reachable(backend.base_url)
    return backend


KIND = BackendKind("openai", "openai/<model> (with --base-url for a local server)", create)
