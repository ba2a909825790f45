"""`openai/<model>`: any OpenAI-compatible endpoints, in completions or chat mode.

The request kind picks the path: a completion request goes to /completions, a chat request to
/chat/completions. The client's own retries are off; ManagedBackend retries with its cap, and this
module only says which failures are worth another attempt. `--request-timeout` is a deadline for
the whole request, however slowly its answer arrives.

Several base URLs serve one model side by side (evalkit.backends.endpoints: which one answers, which
ones rest). Before the run, each is asked for GET /models (evalkit.backends.openai_models); what the
listing says about the model is the cache identity of its answers, so replicas share them.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from evalkit.backends.base import Backend, BackendKind, BackendSettings
from evalkit.backends.endpoints import (Endpoint, EndpointPool, entry_differences, is_server_failure,
                                        served_identity, split_base_urls)
from evalkit.backends.openai_logprobs import parse_echo, request_options
from evalkit.backends.openai_models import (Unreachable, base_url_flag, check_reachable, lacks_v1, shorten,
                                            unreachable_message)
from evalkit.errors import EvalkitError
from evalkit.plugins import installed_version
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
    """`openai/<model>` behind one or several base URLs (see evalkit.backends.endpoints for the rotation)."""

    # log-likelihoods where the server echoes prompt log-probabilities (evalkit.backends.openai_logprobs)
    request_kinds = frozenset({"completion", "chat", "loglikelihood"})

    def __init__(self, model: str, base_url: str | None = None, timeout: float = 600.0, flag: str = "--model",
                 concurrency: int = 8) -> None:
        self.model = model
        self.name = f"openai/{model}"
        self.timeout = timeout  # the whole request: connecting, waiting and every byte of the answer
        self.flag = flag  # the flag that named the model, for messages
        self.concurrency = concurrency
        if not os.environ.get("OPENAI_API_KEY") and base_url is None:
            raise EvalkitError(
                "OPENAI_API_KEY is not set: export it, or point --base-url at a local OpenAI-compatible server"
            )
        urls = split_base_urls(base_url) if base_url is not None else (OPENAI_DEFAULT_BASE_URL,)
        if not urls:
            raise EvalkitError(f"{base_url_flag(flag)} {base_url!r} names no URL; pass one, or several separated by commas")
        for url in urls:
            if not _is_http_url(url):
                shown = redact_url(url).rpartition("@")[2]  # a piece of a password cut at a comma stays unsaid
                raise EvalkitError(f"{base_url_flag(flag)} lists {shown!r}, not an http:// or https:// URL; separate "
                                   "URLs with commas, and write a comma inside one as %2C")
        self._use(urls)
        self.models_entry: dict[str, Any] | None = None  # the model's /models entry, as the first endpoint gave it
        self.served: dict[str, Any] | None = None  # what the endpoints agree it says about the model
        self.unreachable: list[tuple[str, str]] = []  # (URL, why) of endpoints left out at the start
        # The SDK is imported and the clients made at the first request, not here: `openai` takes
        # most of a second to import, which a run answered entirely from the cache never needs.
        self._openai: Any = None

    def _use(self, urls: Sequence[str]) -> None:
        self.urls = tuple(urls)
        self.pool = EndpointPool(self.urls, self.concurrency)
        self.replicas = len(self.urls)  # ManagedBackend allows --concurrency in flight per endpoint

    def check_endpoints(self, timeout: float = 10.0) -> None:
        """check_reachable for every endpoint at once. Bad settings (a refused key, a missing /v1, a model
        not served) stop the run; an endpoint nothing answers at is left out, or stops the run when
        none answers; endpoints whose /models entries for the model differ serve different models."""
        with ThreadPoolExecutor(max_workers=len(self.urls)) as threads:
            checks = list(threads.map(lambda url: _check_one(url, timeout, self.model, self.flag), self.urls))
        reachable = [(url, entry) for url, (entry, why) in zip(self.urls, checks) if why is None]
        self.unreachable = [(url, why) for url, (_, why) in zip(self.urls, checks) if why is not None]
        if not reachable:
            if len(self.urls) == 1:
                raise EvalkitError(unreachable_message(self.urls[0], self.unreachable[0][1], self.flag))
            listed = "; ".join(f"{redact_url(url)} ({why})" for url, why in self.unreachable)
            raise EvalkitError(f"cannot reach any of the {len(self.urls)} model servers: {listed}; are they running, "
                               f"and is {base_url_flag(self.flag)} right?")
        # An endpoint that describes nothing (busy at the check, no /models) answers to the same model
        # name, and is taken to serve what the others describe.
        described = [(url, entry, served_identity(entry)) for url, entry in reachable if entry is not None]
        for url, _, served in described[1:]:
            first_url, _, first = described[0]
            if served != first:
                fields = ", ".join(entry_differences(first, served))
                raise EvalkitError(f"{redact_url(first_url)} and {redact_url(url)} serve different models as "
                                   f"{self.model!r} (their /models entries differ in {fields}); pass one model's "
                                   f"servers to {base_url_flag(self.flag)}")
        if described:
            self.models_entry, self.served = described[0][1], described[0][2]
        self._use([url for url, _ in reachable])

    def identity(self) -> dict[str, Any]:
        if self.served is not None:
            # The model served, not where: replicas of one model share answers, and a URL that
            # serves another model (another /models entry) under the same name never does.
            return {"kind": "openai", "model": self.model, "served": self.served}
        # Nothing describes the model (no /models, a listing without it, a busy server, no check):
        # then only the URL tells this server's answers from those of another that serves other
        # weights under the same name ("default", "model"), so the answers stay with their URLs.
        urls = sorted(redact_url(url) for url in self.urls)
        return {"kind": "openai", "model": self.model, "base_url": urls[0] if len(urls) == 1 else urls}

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": "openai", "library": "openai", "library_version": installed_version("openai"), "model": self.model,
            "endpoints": [redact_url(url) for url in self.urls], "models_entry": self.models_entry,
        }
        if self.unreachable:
            info["unreachable_at_start"] = [redact_url(url) for url, _ in self.unreachable]
        return info

    def plan_notes(self, planned: Mapping[str, Sequence[str]]) -> list[str]:
        return [f"{base_url_flag(self.flag)} {redact_url(url)} is left out: cannot reach it ({why}); the run goes "
                f"on with {len(self.urls)} other endpoint{'s' if len(self.urls) > 1 else ''}"
                for url, why in self.unreachable]

    def endpoint_counts(self) -> dict[str, dict[str, int]]:
        """Per endpoint (URL redacted): requests given, answered, and failed as a server fails."""
        return {redact_url(e.url): {"sent": e.sent, "answered": e.answered, "failed": e.failed}
                for e in self.pool.endpoints}

    def _client_for(self, endpoint: Endpoint) -> Any:
        if endpoint.client is None:
            import openai

            api_key = os.environ.get("OPENAI_API_KEY") or "EMPTY"  # local servers accept any key
            # The key lives only inside the clients: it is never part of identity(), run.json or logs.
            self._openai = openai
            endpoint.client = openai.AsyncOpenAI(api_key=api_key, base_url=endpoint.url, max_retries=0,
                                                 timeout=self.timeout)
        return endpoint.client

    async def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return [await self._generate_one(request) for request in requests]

    async def _generate_one(self, request: Request) -> Completion:
        """Send to an endpoint; when it fails as a server fails, to the next live one, each at most once."""
        tried: list[Endpoint] = []
        failure: Completion | None = None
        while (endpoint := await self.pool.acquire(tried)) is not None:
            completion: Completion | None = None
            try:
                completion = await self._send(endpoint, request)
            finally:
                self.pool.release(endpoint, completion)
            if not is_server_failure(completion.error):
                return completion
            tried.append(endpoint)
            failure = completion
        assert failure is not None  # the first acquire always gives an endpoint
        return failure

    async def _send(self, endpoint: Endpoint, request: Request) -> Completion:
        client = self._client_for(endpoint)
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
        where = f"{redact_url(endpoint.url)}: " if len(self.urls) > 1 else ""
        try:
            if request.kind == "loglikelihood":
                call = client.completions.create(model=self.model, **request_options(request.prompt or "",
                                                                                     request.continuation or ""))
            elif request.kind == "completion":
                call = client.completions.create(prompt=request.prompt, **options)
            else:
                call = client.chat.completions.create(messages=request.chat_messages(), **options)
            # The SDK's timeout bounds each read, so a server that trickles bytes or never ends its
            # body would hold the request forever; the deadline bounds the whole of it.
            response = await asyncio.wait_for(call, self.timeout)
        except openai.APIStatusError as exc:
            message = self._not_found(exc, endpoint.url) if exc.status_code == 404 else where + shorten(exc.message)
            return Completion(text=None, error=status_error(request, exc.status_code, message,
                                                            parse_retry_after(exc.response.headers)))
        except (asyncio.TimeoutError, openai.APITimeoutError):  # asyncio's is not the builtin before 3.11
            return Completion(text=None, error=RequestError(
                "timeout", f"{where}no complete answer within {self.timeout:g} s", retryable=True))
        except openai.APIConnectionError as exc:
            return Completion(text=None, error=RequestError(
                "connection", where + shorten(str(exc.__cause__ or exc)), retryable=True))
        except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError) as exc:
            return Completion(text=None, error=RequestError("malformed", where + shorten(str(exc)), retryable=True))
        if request.kind == "loglikelihood":
            return parse_echo(response, request.prompt or "")
        return self._parse(request, response)

    def _not_found(self, exc: Any, base_url: str) -> str:
        """A 404's message: which URL answered it, and the likely fix when the base URL lacks /v1."""
        try:
            url = redact_url(str(exc.response.request.url))
        except Exception:  # noqa: BLE001 - a response without its request: name the base URL instead
            url = f"an endpoint under {redact_url(base_url)}"
        message = f"{url} answered 404 ({shorten(exc.message, 120)})"
        if lacks_v1(base_url):
            shown = redact_url(base_url)
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
        for endpoint in self.pool.endpoints:
            if endpoint.client is not None:
                await endpoint.client.close()


def status_error(request: Request, status: int, message: str, retry_after: float | None) -> RequestError:
    """The RequestError of an HTTP error answer. A request that asked for structured output and was
    refused for it is `unsupported` (not retried: the same request would be refused again), so the
    caller can ask again without that option."""
    if request.params.response_format is not None and (
        status in REFUSED_OPTION_STATUS or (status == 500 and "response_format" in message)
    ):
        return RequestError("unsupported", message, status=status)
    return RequestError("http", message, status=status, retryable=status in RETRYABLE_STATUS, retry_after=retry_after)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unbalanced [ or a bad port
        return False


def _check_one(url: str, timeout: float, model: str, flag: str) -> tuple[dict[str, Any] | None, str | None]:
    """check_reachable of one endpoint: (its entry for the model, None), or (None, why nothing answers there)."""
    try:
        return check_reachable(url, timeout, model, flag), None
    except Unreachable as exc:
        return None, exc.reason


def create(model: str, settings: BackendSettings) -> OpenAIBackend:
    backend = OpenAIBackend(model, base_url=settings.base_url, timeout=settings.request_timeout, flag=settings.flag,
                            concurrency=settings.concurrency)
    if settings.check_server:
        backend.check_endpoints()
    return backend


KIND = BackendKind("openai", "openai/<model> (with --base-url for a local server, repeated for several)", create,
                   OpenAIBackend.request_kinds)
