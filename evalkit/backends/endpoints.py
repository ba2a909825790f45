"""Several endpoints serving one model: which one a request goes to, which ones rest, and what they serve.

A request goes to the live endpoint with the fewest requests in flight, each endpoint taking at most
`per_endpoint` at once (--concurrency). An endpoint that fails the way a dead or overloaded server
does (no connection, no complete answer before the deadline, HTTP 5xx) rests for a cooldown that
doubles with each failure in a row, up to MAX_COOLDOWN, and is tried again after it; one answer
puts it back at once. While every endpoint rests, a request still goes to the one whose rest ends
first, so one endpoint, or all of them down, fails and is retried exactly as a single server always was.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

from evalkit.types import Completion, RequestError

FIRST_COOLDOWN = 2.0  # seconds an endpoint rests after its first failure in a row
MAX_COOLDOWN = 60.0
SERVER_FAILURE_STATUS = frozenset({500, 502, 503, 504})
# Fields of a /models entry that differ between replicas of one model or from one start to the next:
# `created` (a start or file time), vLLM's `permission` (random ids and times per replica),
# llama.cpp's `status` (loaded or not, in its router mode); `object` is always "model".
VOLATILE_ENTRY_FIELDS = frozenset({"created", "object", "permission", "permissions", "status"})


def split_base_urls(text: str) -> tuple[str, ...]:
    """The URLs of a --base-url value: one, or several separated by commas (a repeated option is joined
    so), each without its trailing slash, each once, in order."""
    urls = (part.strip().rstrip("/") for part in text.split(","))
    return tuple(dict.fromkeys(url for url in urls if url))


def is_server_failure(error: RequestError | None) -> bool:
    """Whether a failure says the endpoint is at fault, not the request (a 4xx, a refused option)."""
    if error is None:
        return False
    return error.kind in ("connection", "timeout") or (error.kind == "http" and error.status in SERVER_FAILURE_STATUS)


def served_identity(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What a /models entry says about the model it names, less what differs between its replicas."""
    return {key: value for key, value in sorted(entry.items()) if key not in VOLATILE_ENTRY_FIELDS}


def entry_differences(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """The fields in which two entries (as served_identity gives them) differ, sorted."""
    return sorted(key for key in set(first) | set(second) if first.get(key) != second.get(key))


@dataclass(eq=False)
class Endpoint:
    """One server of the rotation and how it has done so far."""

    url: str
    client: Any = None  # the SDK client, made at the endpoint's first request
    in_flight: int = 0
    sent: int = 0  # requests it was given
    answered: int = 0
    failed: int = 0  # requests it failed as a server fails (then sent elsewhere or retried)
    failures_in_a_row: int = 0
    resting_until: float = 0.0  # clock time before which it gets no request while another is live


_WAIT = object()


class EndpointPool:
    """The rotation: `acquire` a slot on an endpoint, send, `release` it with what came back."""

    def __init__(self, urls: Collection[str], per_endpoint: int, clock: Callable[[], float] = time.monotonic,
                 first_cooldown: float = FIRST_COOLDOWN, max_cooldown: float = MAX_COOLDOWN) -> None:
        self.endpoints = [Endpoint(url) for url in urls]
        self.per_endpoint = max(1, per_endpoint)
        self.rerouted = 0  # requests sent on to another endpoint after one failed them
        self._clock = clock
        self._first_cooldown, self._max_cooldown = first_cooldown, max_cooldown
        self._freed: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    async def acquire(self, tried: Collection[Endpoint] = ()) -> Endpoint | None:
        """A slot on the least busy live endpoint not in `tried`, waiting for one to free up; with none
        tried yet and every endpoint resting, the one whose rest ends first. None when `tried` leaves
        no live endpoint: the caller gives up and the managed backend retries later."""
        while True:
            chosen = self._pick(tried)
            if chosen is not _WAIT:
                if chosen is not None and tried:
                    self.rerouted += 1
                return chosen  # type: ignore[return-value]
            now = self._clock()
            rests = [e.resting_until - now for e in self.endpoints if e not in tried and e.resting_until > now]
            try:  # a slot freed, or a rest over: look again
                await asyncio.wait_for(self._freed_event().wait(), min(rests, default=None))
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                pass

    def release(self, endpoint: Endpoint, completion: Completion | None) -> None:
        """Give back the slot, noting how the endpoint did (None: the request was cancelled)."""
        endpoint.in_flight -= 1
        if completion is not None and is_server_failure(completion.error):
            endpoint.failed += 1
            now = self._clock()
            # Requests already in flight when it was put to rest fail together: one failure, not many.
            if endpoint.resting_until <= now:
                endpoint.failures_in_a_row += 1
                cooldown = self._first_cooldown * 2 ** (endpoint.failures_in_a_row - 1)
                endpoint.resting_until = now + min(self._max_cooldown, cooldown)
        elif completion is not None:
            endpoint.answered += completion.ok
            endpoint.failures_in_a_row, endpoint.resting_until = 0, 0.0
        if self._freed is not None:  # wake every waiter; later ones wait on a new event
            self._freed[1].set()
            self._freed = None

    def _pick(self, tried: Collection[Endpoint]) -> Endpoint | None | object:
        now = self._clock()
        untried = [e for e in self.endpoints if e not in tried]
        live = [e for e in untried if e.resting_until <= now]
        if not live:
            if tried or not untried:
                return None
            live = [min(untried, key=lambda e: e.resting_until)]
        free = [e for e in live if e.in_flight < self.per_endpoint]
        if not free:
            return _WAIT
        chosen = min(free, key=lambda e: (e.in_flight, e.sent))
        chosen.in_flight += 1
        chosen.sent += 1
        return chosen

    def _freed_event(self) -> asyncio.Event:
        loop = asyncio.get_running_loop()
        if self._freed is None or self._freed[0] is not loop:
            self._freed = (loop, asyncio.Event())
        return self._freed[1]
