"""The value types every part of evalkit speaks: Sample, Request, Completion, RequestError, Score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Union


@dataclass(frozen=True)
class Sample:
    """One benchmark item. `id` is the dataset's own id, or the 0-based index in the source file."""

    id: str
    turns: tuple[str, ...]
    target: str | None
    genre: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationParams:
    """Everything the model is told about how to generate; all of it is part of the cache key."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # A JSON-encoded OpenAI `response_format` (structured output, e.g. a judge's JSON rating);
    # None for free text. Kept as a string so the params stay hashable.
    response_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": list(self.stop),
            "seed": self.seed,
        }
        if self.response_format is not None:  # only when set: every earlier cache key stays valid
            params["response_format"] = self.response_format
        return params


RequestKind = Literal["completion", "chat", "loglikelihood"]
GENERATION_KINDS: frozenset[str] = frozenset({"completion", "chat"})


@dataclass(frozen=True)
class Request:
    """One request: a completion prompt, a list of chat messages, or a log-likelihood question.

    A `loglikelihood` request asks how likely `continuation` is after `prompt` (the context), and
    whether it is the greedy continuation; nothing is generated and `params` play no part.

    `task`, `sample_id`, `turn` and `choice` say where the answer belongs; only `choice` (which of
    several sampled answers) changes the answer, so it is the only one of them in the cache key.
    """

    kind: RequestKind
    params: GenerationParams
    prompt: str | None = None
    messages: tuple[tuple[str, str], ...] | None = None  # (role, content) pairs
    continuation: str | None = None  # loglikelihood: the text whose log-probability is asked
    task: str = ""
    sample_id: str = ""
    turn: int = 0
    choice: int = 0

    def chat_messages(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages or ()]

    def rendered(self) -> dict[str, Any]:
        """The request as stored in samples.jsonl and dumps: the prompt or the messages."""
        if self.kind == "completion":
            return {"prompt": self.prompt}
        if self.kind == "loglikelihood":
            return {"prompt": self.prompt, "continuation": self.continuation}
        return {"messages": self.chat_messages()}

    def cache_payload(self) -> dict[str, Any]:
        return {"kind": self.kind, **self.rendered(), "params": self.params.to_dict(), "choice": self.choice}


ErrorKind = Literal["http", "timeout", "connection", "malformed", "unsupported", "missing", "engine"]


@dataclass(frozen=True)
class RequestError:
    """Why a request got no answer, as data: the backend says what happened, nothing parses messages.

    `kind`: `http` (the server answered with an error `status`), `timeout`, `connection`,
    `malformed` (an answer that could not be read), `unsupported` (the server refused an option of
    the request, such as structured output), `missing` (a replay file has no answer), `engine` (an
    in-process engine failed). `retryable` and `retry_after` tell the managed backend whether
    another attempt may succeed and when; `attempts` is how many were made.
    """

    kind: ErrorKind
    message: str
    status: int | None = None
    retryable: bool = False
    retry_after: float | None = None
    attempts: int = 1

    @property
    def label(self) -> str:
        """A short name for counting errors by kind: "HTTP 429", "timeout"."""
        return f"HTTP {self.status}" if self.kind == "http" and self.status is not None else self.kind

    def __str__(self) -> str:
        suffix = f" (after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"{self.label}: {self.message}{suffix}"


@dataclass(frozen=True)
class Loglikelihood:
    """The answer to a log-likelihood request, kept as that request's reply: how likely the continuation
    is after the context (summed natural-log probability), and whether it is the greedy continuation."""

    logprob: float
    greedy: bool

    def __str__(self) -> str:
        return f"log p = {self.logprob:.4f}" + (" (greedy)" if self.greedy else "")


# What came back for one request: generated text, or a log-likelihood.
Reply = Union[str, Loglikelihood]


@dataclass(frozen=True)
class Completion:
    """What a backend answered for one request: text (or, for a loglikelihood request, `logprob` and
    `greedy`), or an error recorded on the item."""

    text: str | None
    error: RequestError | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached: bool = False
    logprob: float | None = None  # loglikelihood: the continuation's summed log-probability (natural log)
    greedy: bool | None = None  # loglikelihood: whether every continuation token is the most likely one
    # Set only when `text` was not valid Unicode and was repaired (evalkit.text_safety): the text as it
    # came, each lone surrogate written as a \uXXXX escape.
    received: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.text is not None or self.logprob is not None)

    @property
    def reply(self) -> Reply | None:
        """What a scorer reads: the text, or for a log-likelihood request its Loglikelihood; None on error."""
        if not self.ok:
            return None
        return Loglikelihood(self.logprob, bool(self.greedy)) if self.logprob is not None else self.text


@dataclass(frozen=True)
class Score:
    """The scores of one sample. `value` is the primary metric; None means unscorable.

    `metrics` holds every named metric of the sample (the primary one included), `answer` the
    strictly extracted answer, `format_ok` whether the reply followed the required format, and
    `details` what each extraction found, so every number traces back to the reply.
    """

    value: float | None
    answer: str | None
    format_ok: bool | None
    metrics: Mapping[str, float | None]
    details: Mapping[str, Any] = field(default_factory=dict)
