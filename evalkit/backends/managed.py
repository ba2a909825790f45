"""The wrapper around every backend: request cache, bounded concurrency, capped retries, rate limits.

`stream` yields (index, completion) pairs as answers arrive, cached ones first, so the runner can
write each result to disk the moment it exists.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field, replace
from typing import AsyncIterator, Sequence

from evalkit.backends.base import Backend
from evalkit.cache import RequestCache, request_key
from evalkit.text_safety import safe_completion
from evalkit.types import Completion, Request, RequestError


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter; a server's Retry-After wins when it asks for longer."""

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0  # never sleep longer than this on a server's say-so

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
        if retry_after is not None:
            return max(backoff, min(retry_after, self.max_retry_after))
        return backoff


@dataclass
class RequestStats:
    cache_hits: int = 0
    sent: int = 0  # attempts that reached the backend, retries included
    retries: int = 0
    errors: int = 0  # requests that still failed after their retries
    error_kinds: dict[str, int] = field(default_factory=dict)
    repaired: int = 0  # answers whose text was not valid Unicode, stored with U+FFFD (evalkit.text_safety)


class ManagedBackend:
    def __init__(
        self,
        backend: Backend,
        cache: RequestCache | None = None,
        concurrency: int = 8,
        retry: RetryPolicy = RetryPolicy(),
        max_requests_per_second: float | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache if backend.cacheable else None
        self.retry = retry
        self.stats = RequestStats()
        # `concurrency` per replica: several servers of one model each take that many at once.
        self._slots = asyncio.Semaphore(max(1, concurrency) * max(1, backend.replicas))
        self._min_interval = 1.0 / max_requests_per_second if max_requests_per_second else 0.0
        self._next_send = 0.0  # monotonic time before which no request may start (rate limit, 429)
        self._identity = backend.identity()

    async def stream(self, requests: Sequence[Request]) -> AsyncIterator[tuple[int, Completion]]:
        keys = [request_key(self._identity, r) for r in requests] if self.cache else []
        hits = self.cache.get_many(keys) if self.cache else {}
        misses: list[int] = []
        for i in range(len(requests)):
            hit = hits.get(keys[i]) if self.cache else None
            if hit is not None:
                self.stats.cache_hits += 1
                yield i, self._safe(hit)
            else:
                misses.append(i)
        size = max(1, self.backend.max_batch_size)
        batches = [misses[start : start + size] for start in range(0, len(misses), size)]
        pending = [asyncio.ensure_future(self._answer_batch(b, requests)) for b in batches]
        try:
            for done in asyncio.as_completed(pending):
                for i, completion in await done:
                    if self.cache:
                        self.cache.put(keys[i], completion)  # as it came: a re-run repairs it the same way
                    yield i, self._safe(completion)
        finally:
            for task in pending:
                task.cancel()

    async def _answer_batch(self, indices: list[int], requests: Sequence[Request]) -> list[tuple[int, Completion]]:
        results: dict[int, Completion] = {}
        todo, attempt = list(indices), 0
        while todo:
            attempt += 1
            async with self._slots:
                await self._wait_for_turn()
                self.stats.sent += len(todo)
                answers = await self.backend.generate([requests[i] for i in todo])
            retry_later, retry_after = [], None
            for i, completion in zip(todo, answers):
                error = completion.error
                if completion.ok or error is None or not error.retryable or attempt > self.retry.max_retries:
                    results[i] = self._final(completion, attempt)
                else:
                    retry_later.append(i)
                    if error.retry_after is not None:
                        retry_after = max(retry_after or 0.0, error.retry_after)
                        self._pause_all(error.retry_after)
            todo = retry_later
            if todo:
                self.stats.retries += len(todo)
                await asyncio.sleep(self.retry.delay(attempt, retry_after))
        return [(i, results[i]) for i in indices]

    def _final(self, completion: Completion, attempts: int) -> Completion:
        if completion.ok:
            return completion
        error = completion.error or RequestError("malformed", "the backend returned neither text nor an error")
        self.stats.errors += 1
        self.stats.error_kinds[error.label] = self.stats.error_kinds.get(error.label, 0) + 1
        return replace(completion, error=replace(error, attempts=attempts, retryable=False, retry_after=None))

    def _safe(self, completion: Completion) -> Completion:
        """Every answer leaves here as valid Unicode, whatever the backend or the cache gave."""
        completion = safe_completion(completion)
        if completion.received is not None:
            self.stats.repaired += 1
        return completion

    def _pause_all(self, seconds: float) -> None:
        """A 429 with Retry-After holds back every request, not only the one that got it."""
        seconds = min(seconds, self.retry.max_retry_after)
        self._next_send = max(self._next_send, time.monotonic() + seconds)

    async def _wait_for_turn(self) -> None:
        while True:
            now = time.monotonic()
            if now >= self._next_send:
                if self._min_interval:
                    self._next_send = now + self._min_interval
                return
            await asyncio.sleep(self._next_send - now)

    async def aclose(self) -> None:
        await self.backend.aclose()
