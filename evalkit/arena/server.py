"""`evalkit arena serve`: the voting page and its JSON API, on aiohttp's web server.

GET  /                 the page
GET  /api/next?voter=  the next battle for this voter: the prompt and two anonymous answers
POST /api/vote         {battle_id, winner: a | b | tie | bothbad, comment}: stored, then the names revealed
GET  /api/progress     how many votes there are, in all and per pair of runs

A vote is committed to the arena's SQLite file before the answer goes back, and is keyed by its
battle, so a vote sent twice (a retry, a double click, a restarted server) is stored once.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

from evalkit.arena.battles import Arena
from evalkit.arena.store import Vote

CHOICES = {"a": "model_a", "b": "model_b", "tie": "tie", "bothbad": "tie (bothbad)"}
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'"
MAX_COMMENT = 2000
MAX_VOTER = 80


def make_app(arena: Arena):
    from aiohttp import web

    page = (resources.files("evalkit.arena") / "page.html").read_text(encoding="utf-8")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html", charset="utf-8",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})

    async def next_battle(request: web.Request) -> web.Response:
        voter = request.query.get("voter", "").strip()[:MAX_VOTER]
        if not voter:
            return _error("say who you are: ?voter=NAME", 400)
        battle = arena.next_battle(voter)
        if battle is None:
            return web.json_response({"done": True})
        return web.json_response(arena.page_view(battle))

    async def vote(request: web.Request) -> web.Response:
        try:
            body: dict[str, Any] = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error("the body is not JSON", 400)
        battle = arena.store.battle(str(body.get("battle_id", "")))
        if battle is None:
            return _error("no such battle", 404)
        winner = CHOICES.get(str(body.get("winner")))
        if winner is None:
            return _error(f"winner is one of {', '.join(CHOICES)}", 400)
        stored = arena.store.add_vote(Vote(
            battle.id, "human", battle.voter, time.time(), battle.task, battle.sample_id, battle.choice,
            battle.run_a, battle.run_b, winner, str(body.get("comment") or "")[:MAX_COMMENT]))
        kept = arena.store.vote(battle.id)
        assert kept is not None
        return web.json_response({"stored": stored, "winner": kept.winner, "model_a": battle.run_a,
                                  "model_b": battle.run_b, "names": {label: arena.runs[label].run.manifest.spec.model
                                                                     for label in (battle.run_a, battle.run_b)}})

    async def progress(request: web.Request) -> web.Response:
        votes = arena.store.votes()
        pairs: dict[str, int] = {}
        for v in votes:
            key = " vs ".join(sorted((v.model_a, v.model_b)))
            pairs[key] = pairs.get(key, 0) + 1
        return web.json_response({"votes": len(votes), "pairs": pairs})

    app = web.Application(client_max_size=64 * 1024)
    app.add_routes([web.get("/", index), web.get("/api/next", next_battle), web.post("/api/vote", vote),
                    web.get("/api/progress", progress)])
    return app


def _error(message: str, status: int):
    from aiohttp import web

    return web.json_response({"error": message}, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def serve(arena: Arena, host: str, port: int, announce) -> None:
    from aiohttp import web

    announce(f"arena: {len(arena.runs)} runs, {len(arena.pairs)} pairs, votes in {arena.store.path}; "
             f"open http://{host}:{port}/ (Ctrl-C stops; votes are kept)")
    web.run_app(make_app(arena), host=host, port=port, print=None, handle_signals=True)
