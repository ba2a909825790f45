"""ScriptedBackend: a fake backend whose replies a test writes down in advance."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from evalkit.backends.base import Backend
from evalkit.types import GENERATION_KINDS, Completion, Request

ScriptReply = str | Completion


class ScriptedBackend(Backend):
    """Answers each request with `script(request)`; keeps every request it was sent, in order.

    A script returns the reply text, or a Completion (to script errors and retryable failures, or a
    log-likelihood: pass `request_kinds` with "loglikelihood" to have such requests sent to it).
    """

    name = "scripted/fake"

    def __init__(self, script: Callable[[Request], ScriptReply], max_batch_size: int = 1,
                 request_kinds: frozenset[str] = GENERATION_KINDS) -> None:
        self.script = script
        self.request_kinds = request_kinds
        self.max_batch_size = max_batch_size
        self.received: list[Request] = []

    def identity(self) -> dict[str, Any]:
        return {"kind": "scripted", "model": "fake"}

    async def generate(self, requests: Sequence[Request]) -> list[Completion]:
        self.received.extend(requests)
        replies = [self.script(r) for r in requests]
        return [r if isinstance(r, Completion) else Completion(text=r, finish_reason="stop") for r in replies]
