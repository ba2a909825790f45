"""The Backend role, and the registry of backend kinds (`evalkit.backends` entry points), like tasks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from evalkit.errors import EvalkitError
from evalkit.plugins import entry_points_of, load_plugin
from evalkit.types import GENERATION_KINDS, Completion, Request

ENTRY_POINT_GROUP = "evalkit.backends"


class Backend(ABC):
    """A model behind one method, `generate`.

    A backend answers every request of the batch, in order; a request it could not answer comes
    back as a Completion with a RequestError (retryable when another attempt may succeed), never
    as made-up text. Concurrency, retries, rate limits and caching belong to ManagedBackend.
    """

    name: str  # "openai/gpt-4o", "replay/outputs.jsonl"
    max_batch_size: int = 1  # larger for engines that batch (vLLM)
    replicas: int = 1  # servers answering side by side; ManagedBackend allows --concurrency in flight per replica
    cacheable: bool = True  # False where an answer costs nothing to reproduce (replay)
    request_kinds: frozenset[str] = GENERATION_KINDS  # the Request kinds it answers; "loglikelihood" where it can

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What makes this backend's answers differ from another's; no secrets. Part of the cache key."""

    def provenance(self) -> dict[str, Any]:
        """What run.json records of where the answers came from; no secrets, no credentials in URLs.
        By convention `kind`, `library` and `library_version` (the package that talks to the model),
        `model` (its id or path), and whatever fingerprints the weights where one can be read (a
        file's hash, a server's /models entry). The default is identity()."""
        return self.identity()

    @abstractmethod
    async def generate(self, requests: Sequence[Request]) -> list[Completion]: ...

    async def aclose(self) -> None:
        """Release connections or engines; the run calls it once, at the end."""

    def plan_notes(self, planned: Mapping[str, Sequence[str]]) -> list[str]:
        """Lines for the person watching once the run's samples are known (task -> sample ids): what
        this backend will not be able to answer, what of its own input no sample asks for."""
        return []

    def failure_advice(self, kind: str) -> str | None:
        """What to do about failed samples whose errors are all of this kind, when this backend knows
        better than retrying (a replay file lacking them); None: re-running retries them."""
        return None


@dataclass(frozen=True)
class BackendSettings:
    """What the command line says about the model besides its name."""

    base_url: str | None = None
    request_timeout: float = 600.0  # the whole request, however slowly its answer comes
    concurrency: int = 8  # requests in flight per endpoint (--concurrency)
    check_server: bool = True  # ask the server for /models before the run starts
    model_args: dict[str, Any] = field(default_factory=dict)  # engine arguments (vllm)
    flag: str = "--model"  # the flag that named this model ("--judge" for the judge), for messages; set by load_backend


@dataclass(frozen=True)
class BackendKind:
    """One kind of backend, registered under its name: `--model NAME/TARGET` builds `create(TARGET, settings)`."""

    name: str
    usage: str  # how the target is written, for help and errors: "openai/<model>"
    create: Callable[[str, BackendSettings], Backend]
    request_kinds: frozenset[str] = GENERATION_KINDS  # what its backends answer, known before one is built


def backend_kinds() -> dict[str, Any]:
    """The entry points of every registered kind, by name (loaded only when chosen)."""
    return entry_points_of(ENTRY_POINT_GROUP)


def backend_kind(name: str) -> BackendKind | None:
    ep = backend_kinds().get(name)
    return load_plugin(ep, BackendKind, "backend") if ep is not None else None


def load_backend(model: str, settings: BackendSettings = BackendSettings(), flag: str = "--model") -> Backend:
    """The backend `model` (BACKEND/TARGET) names, or a one-line error listing the kinds there are."""
    name, _, target = model.partition("/")
    kind = backend_kind(name) if target else None
    if kind is None:
        usages = ", ".join(backend_kind(k).usage for k in sorted(backend_kinds()))  # type: ignore[union-attr]
        raise EvalkitError(f"{flag} {model!r} is not BACKEND/MODEL; use one of {usages}")
    backend = kind.create(target, replace(settings, flag=flag))
    if not isinstance(backend, Backend):
        raise EvalkitError(f"backend plugin {name!r} built a {type(backend).__name__}, not an evalkit Backend")
    return backend


def require_request_kinds(backend: Backend, needs: Mapping[str, frozenset[str]]) -> None:
    """Stop before anything is sent when a task (task name -> request kinds) asks for a kind of request
    the backend cannot answer, naming the backend kinds that can."""
    for task, kinds in needs.items():
        missing = sorted(kinds - backend.request_kinds)
        if missing:
            able = [kind.usage for kind in map(backend_kind, sorted(backend_kinds()))
                    if kind is not None and set(missing) <= kind.request_kinds]
            raise EvalkitError(f"{task} asks for {', '.join(missing)} requests, which {backend.name} cannot answer; "
                               f"use {' or '.join(able) or 'a backend that can'}")
