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


def parse_model_args(text: str | None, flag: str = "--model-args") -> dict[str, Any]:
    """Backend parameters as typed values: `dtype=bfloat16,max_model_len=2048,enforce_eager=true`.

    A value may be JSON (`hf_overrides={"rope_theta":1e6},stop=["a,b"]`): commas inside brackets,
    braces or quotes do not split items, so nested engine options reach the backend intact. The
    whole text may also be one JSON object, or `@FILE` naming a JSON or YAML file that holds one.
    """
    text = (text or "").strip()
    if text.startswith("@"):
        return _model_args_file(text[1:], flag)
    if text.startswith("{"):
        return _model_args_object(_json_value(text, flag, "the value"), flag, "the value")
    args: dict[str, Any] = {}
    for item in _split_top_level(text, flag):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise EvalkitError(f"{flag} item {item.strip()!r} is not key=value")
        if key in args:
            raise EvalkitError(f"{flag} gives {key} twice; keep one")
        args[key] = _typed(raw.strip(), flag, key)
    return args


_CLOSERS = {"[": "]", "{": "}", "(": ")"}


def _split_top_level(text: str, flag: str) -> list[str]:
    """Split on the commas that are outside brackets, braces and quotes; unbalanced text is an error."""
    items, current, stack, quote, escaped = [], [], [], "", False
    for char in text:
        current.append(char)
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':  # JSON strings escape with a backslash
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'" and "".join(current[:-1]).rstrip()[-1:] in ("", "=", ",", ":", "[", "{", "("):
            quote = char  # only where a value starts: an apostrophe inside a word (don't) is just text
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in _CLOSERS.values():
            if not stack or stack.pop() != char:
                raise EvalkitError(f"{flag}: unexpected {char!r} in {text!r}; check the brackets")
        elif char == "," and not stack:
            items.append("".join(current[:-1]))
            current = []
    if quote or stack:
        missing = quote or stack[-1]
        raise EvalkitError(f"{flag}: {missing!r} is never closed in {text!r}")
    items.append("".join(current))
    return items


def _typed(raw: str, flag: str, key: str) -> Any:
    """JSON for structured values and double-quoted strings; true/false, numbers, else the text itself."""
    if raw[:1] in ("{", "[", '"'):
        return _json_value(raw, flag, key)
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":  # a single-quoted string keeps its commas, loses its quotes
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _json_value(raw: str, flag: str, what: str) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError as exc:
        raise EvalkitError(f"{flag} {what}: {raw!r} is not valid JSON ({exc})") from None


def _model_args_object(value: Any, flag: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise EvalkitError(f"{flag} {source} must be an object of named parameters, like {{\"dtype\": \"bfloat16\"}}")
    return value


def _model_args_file(name: str, flag: str) -> dict[str, Any]:
    """`@params.json` or `@params.yaml`: the parameters as one object in a file."""
    from pathlib import Path

    path = Path(name.strip()).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitError(f"{flag} @{name}: cannot read the file ({exc.__class__.__name__}); name a JSON or YAML file") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EvalkitError(f"{flag} @{name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    else:
        value = _json_value(text, flag, f"@{name}")
    return _model_args_object(value, flag, f"@{name}")
