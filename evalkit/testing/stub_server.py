"""A loopback OpenAI-compatible server for tests and bench/: fixed latency, injected faults, a request log.

    python -m evalkit.testing.stub_server --port 8123 --latency 0.2 --fault-rate 0.33 --log req.jsonl

Replies are deterministic functions of the prompt ("... #### N"), so two harnesses sent the same
prompt get the same text. Faults, drawn per request from a seeded generator: HTTP 500, HTTP 429
with Retry-After, a stall longer than any sane client timeout, and a 200 with a malformed body.
Every request is logged (one JSON line: endpoint, prompt hash, outcome) to check what was re-sent.
Needs aiohttp (the `dev` extra). Serves loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

FAULTS = ("http500", "http429", "stall", "malformed")


@dataclass
class StubConfig:
    latency: float = 0.0
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULTS
    stall_seconds: float = 5.0
    retry_after: float = 1.0
    seed: int = 0
    log: Path | None = None
    require_key: str | None = None  # when set, other bearer tokens get 401
    reply: Callable[[str], str] | None = None  # in-process only: the reply text for a prompt (default reply_for)
    # The entries GET /v1/models lists, read at each request (a test may change them between runs);
    # None: one entry, for the model "stub".
    models: list[dict[str, Any]] | None = None


def prompt_of(body: dict[str, Any]) -> str:
    if "messages" in body:
        return json.dumps(body["messages"], ensure_ascii=False, sort_keys=True)
    return str(body.get("prompt", ""))


def reply_for(prompt: str) -> str:
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    number = int(digest[:8], 16) % 100
    return f"Let me think. The total is {number}.\n#### {number}"


def build_app(config: StubConfig):
    from aiohttp import web

    rng = random.Random(config.seed)
    log_lock = threading.Lock()
    counter = {"n": 0}

    def log(entry: dict[str, Any]) -> None:
        if config.log is None:
            return
        with log_lock, config.log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    def authorized(request) -> bool:
        if config.require_key is None:
            return True
        return request.headers.get("Authorization") == f"Bearer {config.require_key}"

    async def models(request):
        if not authorized(request):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        entries = config.models if config.models is not None else [{"id": "stub", "object": "model"}]
        return web.json_response({"object": "list", "data": entries})

    async def complete(request):
        if not authorized(request):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        body = await request.json()
        prompt = prompt_of(body)
        counter["n"] += 1
        fault = rng.choice(config.faults) if rng.random() < config.fault_rate else None
        entry = {"n": counter["n"], "path": request.path, "prompt_sha": hashlib.sha256(prompt.encode()).hexdigest(),
                 "fault": fault, "t": time.time()}
        log(entry)
        if config.latency:
            await asyncio.sleep(config.latency)
        if fault == "http500":
            return web.json_response({"error": {"message": "injected server error"}}, status=500)
        if fault == "http429":
            return web.json_response({"error": {"message": "injected rate limit"}}, status=429,
                                     headers={"Retry-After": f"{config.retry_after:g}"})
        if fault == "stall":
            await asyncio.sleep(config.stall_seconds)
        if fault == "malformed":
            return web.Response(text='{"id": "cmpl-x", "choices": [', content_type="application/json")
        text = (config.reply or reply_for)(prompt)
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                 "total_tokens": len(prompt.split()) + len(text.split())}
        if request.path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
            obj = "text_completion"
        return web.json_response({"id": f"cmpl-{counter['n']}", "object": obj, "created": int(time.time()),
                                  "model": body.get("model", "stub"), "choices": [choice], "usage": usage})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/completions", complete)
    app.router.add_post("/v1/chat/completions", complete)
    return app


class StubServer:
    """The stub served from a background thread: `with StubServer(cfg) as url: ...`."""

    def __init__(self, config: StubConfig, port: int = 0) -> None:
        self.config, self.port = config, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._runner = None

    def __enter__(self) -> str:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("stub server did not start")
        return f"http://127.0.0.1:{self.port}/v1"

    def _serve(self) -> None:
        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(build_app(self.config))
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # the port picked when 0 was asked
        self._ready.set()
        self._loop.run_forever()

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)


def main() -> None:
    from aiohttp import web

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--stall-seconds", type=float, default=5.0)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", type=Path, default=None)
    parser.add_argument("--require-key", default=None)
    args = parser.parse_args()
    config = StubConfig(latency=args.latency, fault_rate=args.fault_rate, stall_seconds=args.stall_seconds,
                        retry_after=args.retry_after, seed=args.seed, log=args.log, require_key=args.require_key)
    web.run_app(build_app(config), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
