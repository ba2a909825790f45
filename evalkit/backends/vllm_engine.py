"""`vllm/<model path or id>`: a local checkpoint run in-process by vLLM's offline engine.

vLLM batches internally, so this backend takes large batches (ManagedBackend hands it up to
`max_batch_size` requests at once) and runs each batch in a worker thread so the event loop keeps
streaming results. Engine arguments come from `--model-args key=value,...` (dtype, max_model_len,
tensor_parallel_size, ...). Needs the `vllm` extra; imported only when this backend is chosen.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Sequence

from evalkit.backends.base import Backend, BackendKind
from evalkit.backends.vllm_scoring import loglikelihoods
from evalkit.errors import EvalkitError
from evalkit.fingerprint import checkpoint_sha256
from evalkit.types import Completion, Request, RequestError


class VLLMBackend(Backend):
    max_batch_size = 256
    request_kinds = frozenset({"completion", "chat", "loglikelihood"})  # evalkit.backends.vllm_scoring

    def __init__(self, model: str, engine_args: dict[str, Any] | None = None) -> None:
        try:
            import vllm
        except ImportError:
            raise EvalkitError("the vllm backend needs vLLM: pip install 'evalkit[vllm]'") from None
        self._vllm = vllm
        self.model = model
        self.name = f"vllm/{model}"
        self.engine_args = dict(engine_args or {})
        self.weights_sha256 = checkpoint_sha256(model)  # None for a Hub id
        self._lock = threading.Lock()  # one LLM engine: batches run one at a time
        try:
            self._llm = vllm.LLM(model=model, **self.engine_args)
        except Exception as exc:  # vLLM raises many types for a bad path, config or device
            raise EvalkitError(f"vLLM could not load {model}: {type(exc).__name__}: {exc}") from None

    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {"kind": "vllm", "model": self.model, "engine_args": self.engine_args}
        if self.weights_sha256 is not None:  # what is in the folder, not its name: `latest/` is rewritten
            identity["weights_sha256"] = self.weights_sha256
        return identity

    def provenance(self) -> dict[str, Any]:
        return {**self.identity(), "library": "vllm", "library_version": getattr(self._vllm, "__version__", None),
                "local": self.weights_sha256 is not None}

    def _sampling(self, request: Request):
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
        results: list[Completion | None] = [None] * len(requests)
        scored = [i for i, r in enumerate(requests) if r.kind == "loglikelihood"]
        if scored:
            for i, answer in zip(scored, loglikelihoods(self._llm, self._vllm, [requests[i] for i in scored])):
                results[i] = answer
        for kind in ("completion", "chat"):
            indices = [i for i, r in enumerate(requests) if r.kind == kind]
            if not indices:
                continue
            params = [self._sampling(requests[i]) for i in indices]
            try:
                if kind == "completion":
                    outputs = self._llm.generate([requests[i].prompt for i in indices], params, use_tqdm=False)
                else:
                    outputs = self._llm.chat([requests[i].chat_messages() for i in indices], params, use_tqdm=False)
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
