"""The arena: votes cast through the real server survive SIGKILL, names stay hidden until the vote, a
scripted judge ranks three runs of different quality, and battles go out and come back in Chatbot
Arena's format."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from evalkit.arena.battles import Arena, load_runs
from evalkit.arena.judging import judge_arena
from evalkit.arena.store import ArenaStore, Vote
from evalkit.arena.tables import arena_tables, ranking_of
from evalkit.testing.scripted import ScriptedBackend
from tests.cli_process import HANG_GUARD_S, free_port, run_evalkit, start_evalkit, stderr_lines
from tests.report_runs import INJECTED, make_runs

LABELS = ("gold", "degraded", "noisy")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    return make_runs(tmp_path_factory.mktemp("arena"))


class Server:
    """`evalkit arena serve` in its own process, as a user starts it."""

    def __init__(self, runs: list[Path], db: Path, cwd: Path) -> None:
        for _ in range(3):  # a port found free can be taken before the server binds it: then another one
            self.port = free_port()
            self.process = start_evalkit("arena", "serve", *runs, "--db", db, "--port", self.port, "--seed", 7, cwd=cwd)
            deadline = time.monotonic() + HANG_GUARD_S
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    self.get("/api/progress")
                    return
                except OSError:
                    time.sleep(0.2)
            self.process.kill()
            self.process.wait()
        raise AssertionError("the arena server did not start")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str):
        with urllib.request.urlopen(self.url(path), timeout=10) as response:
            body = response.read().decode("utf-8")
            return json.loads(body) if response.headers.get_content_type() == "application/json" else body

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.url(path), data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=HANG_GUARD_S)


def test_votes_cast_through_the_server_survive_a_kill_and_are_never_doubled(runs, tmp_path):
    db = tmp_path / "arena.sqlite"
    server = Server(runs, db, tmp_path)
    cast = []
    try:
        assert not any(label in server.get("/") for label in LABELS)
        for i, winner in enumerate(["a", "b", "tie", "bothbad", "a", "a"]):
            battle = server.get("/api/next?voter=alice")
            text = json.dumps(battle, ensure_ascii=False)
            assert not any(label in text for label in LABELS)  # names are hidden before the vote
            assert len(battle["a"]) == len(battle["b"]) >= 1 and battle["a"] != battle["b"] or battle["task"]
            reply = server.post("/api/vote", {"battle_id": battle["battle_id"], "winner": winner, "comment": f"#{i}"})
            assert reply["stored"] and {reply["model_a"], reply["model_b"]} <= set(LABELS)
            assert reply["model_a"] != reply["model_b"]
            cast.append((battle, reply))
        pending = server.get("/api/next?voter=alice")  # shown, not yet voted, when the server dies
    finally:
        server.kill()

    server = Server(runs, db, tmp_path)  # the same command again
    try:
        assert server.get("/api/progress")["votes"] == 6
        again = server.post("/api/vote", {"battle_id": cast[0][0]["battle_id"], "winner": "b"})  # a retried POST
        assert again["stored"] is False and again["winner"] == "model_a"  # the first vote stands
        late = server.post("/api/vote", {"battle_id": pending["battle_id"], "winner": "a"})  # issued before the kill
        assert late["stored"] is True
        assert server.get("/api/progress")["votes"] == 7
    finally:
        server.kill()
    store = ArenaStore(db)
    votes = store.votes("human")
    assert len(votes) == 7 and len({v.battle_id for v in votes}) == 7
    assert [v.comment for v in votes[:6]] == [f"#{i}" for i in range(6)] and votes[0].voter == "alice"
    seen = {(v.task, v.sample_id, v.choice, frozenset((v.model_a, v.model_b))) for v in votes}
    assert len(seen) == 7  # never the same pair and sample twice for one voter


def test_bad_requests_get_a_clear_answer(runs, tmp_path):
    server = Server(runs, tmp_path / "arena.sqlite", tmp_path)
    try:
        for path, body, status in [("/api/vote", {"battle_id": "nope", "winner": "a"}, 404),
                                   ("/api/vote", {"battle_id": server.get("/api/next?voter=bob")["battle_id"],
                                                  "winner": "neither"}, 400)]:
            with pytest.raises(urllib.error.HTTPError) as caught:
                server.post(path, body)
            assert caught.value.code == status and json.loads(caught.value.read())["error"]
        with pytest.raises(urllib.error.HTTPError) as caught:
            server.get("/api/next?voter=")
        assert caught.value.code == 400
    finally:
        server.kill()


def test_the_page_votes_and_reveals_names_only_after(runs, tmp_path):
    from tests.test_report import CHROMIUM

    if CHROMIUM is None:
        pytest.skip("Chromium is not installed here")
    playwright_api = pytest.importorskip("playwright.sync_api")
    server = Server(runs, tmp_path / "arena.sqlite", tmp_path)
    try:
        with playwright_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(server.url("/"))
            page.fill("#voter", "carol")
            page.click("#start")
            for _ in range(8):
                page.wait_for_selector("#battle:not([hidden])")
                body = page.text_content("body")
                assert not any(label in body for label in LABELS)
                if INJECTED in body:  # a degraded answer: shown as text, never run
                    assert page.evaluate("window.__evalkit_pwned") is None
                page.click("button[data-winner=a]")
                page.wait_for_selector("#reveal:not([hidden])")
                assert any(label in page.text_content("#reveal") for label in LABELS)
                page.click("#next")
            assert errors == []
            browser.close()
    finally:
        server.kill()
    assert len(ArenaStore(tmp_path / "arena.sqlite").votes("human")) == 8


def preferring(request) -> str:
    """A pairwise judge that prefers careful answers to short ones and short ones to none."""
    user = request.messages[-1][1]  # the test prompts put the answers on lines "A: ..." and "B: ..."
    a = next((line for line in user.splitlines() if line.startswith("A: ")), "")
    b = next((line for line in user.splitlines() if line.startswith("B: ")), "")
    quality = [("careful" in text) * 2 + ("short" in text) for text in (a, b)]
    return "[[A]]" if quality[0] > quality[1] else "[[B]]" if quality[1] > quality[0] else "[[C]]"


def test_a_scripted_judge_ranks_three_runs_and_more_votes_narrow_the_intervals(runs, tmp_path):
    widths = []
    for samples in (2, 6):
        store = ArenaStore(tmp_path / f"judged-{samples}.sqlite")
        arena = Arena(load_runs(runs), store)
        notes: list[str] = []
        tally = judge_arena(arena, "openai/judge", None, {}, None, samples, notes.append,
                            backend=ScriptedBackend(preferring))
        shared = [sum(1 for key, found in arena.answers.items() if key[0] == "mt_bench" and a in found and b in found)
                  for a, b in arena.pairs]
        assert tally.failed == 0 and tally.games == sum(min(samples, n) for n in shared) * 2  # two turns each
        assert any("gsm8k: no pairwise judge" in n for n in notes)
        ranking = ranking_of(store, "judge", rounds=300)
        # noisy answers like gold 60% of the time; degraded answers are always short ones
        assert [ranking.models[i] for i in ranking.order()] == ["gold", "noisy", "degraded"]
        widths.append(float((ranking.ci_high - ranking.ci_low).mean()))
        again = judge_arena(arena, "openai/judge", None, {}, None, samples, notes.append,
                            backend=ScriptedBackend(preferring))
        assert (again.games, again.kept) == (0, tally.games)  # asked before: nothing new
    assert widths[1] < widths[0]


def test_battles_go_out_and_come_back_in_chatbot_arenas_format(runs, tmp_path):
    store = ArenaStore(tmp_path / "a.sqlite")
    arena = Arena(load_runs(runs), store, seed=3)
    for when, winner in enumerate(("model_a", "model_b", "tie")):
        battle = arena.next_battle("dave")
        store.add_vote(Vote(battle.id, "human", "dave", float(when), battle.task, battle.sample_id, battle.choice,
                            battle.run_a, battle.run_b, winner))
    out = tmp_path / "battles.jsonl"
    assert run_evalkit("arena", "export", "--db", tmp_path / "a.sqlite", "-o", out, cwd=tmp_path).returncode == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["winner"] for line in lines] == ["model_a", "model_b", "tie"]
    assert {"model_a", "model_b", "winner", "judge", "tstamp", "question_id"} <= lines[0].keys()
    result = run_evalkit("arena", "import", out, "--db", tmp_path / "b.sqlite", cwd=tmp_path)
    assert result.returncode == 0 and "3 new battles of 3" in " ".join(result.stderr.split())
    again = run_evalkit("arena", "import", out, "--db", tmp_path / "b.sqlite", cwd=tmp_path)
    assert "0 new battles of 3" in " ".join(again.stderr.split())
    copied = ArenaStore(tmp_path / "b.sqlite").votes()
    assert [(v.model_a, v.model_b, v.winner, v.source) for v in copied] == [
        (v.model_a, v.model_b, v.winner, v.source) for v in store.votes()]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"model_a": "x", "model_b": "y", "winner": "x"}\n')
    result = run_evalkit("arena", "import", bad, "--db", tmp_path / "b.sqlite", cwd=tmp_path)
    assert result.returncode == 2 and stderr_lines(result) == [
        f"error: {bad}:1: winner 'x' is not one of model_a, model_b, tie, tie (bothbad)"]


def test_rank_prints_the_ranking_and_the_matrices(runs, tmp_path):
    store = ArenaStore(tmp_path / "arena.sqlite")
    arena = Arena(load_runs(runs), store)
    judge_arena(arena, "openai/judge", None, {}, None, 3, lambda text: None, backend=ScriptedBackend(preferring))
    tables = arena_tables(store, "all", rounds=200)
    assert [t.title for t in tables] == ["arena ranking (all votes)", "win rate of the row against the column (ties half)",
                                         "battles per pair"]
    assert [row[1] for row in tables[0].rows] == ["gold", "noisy", "degraded"]
    result = run_evalkit("arena", "rank", "--db", tmp_path / "arena.sqlite", "--format", "md", cwd=tmp_path)
    assert result.returncode == 0 and "| 1 | gold | scripted/model |" in result.stdout
    missing = run_evalkit("arena", "rank", "--db", tmp_path / "none.sqlite", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_the_ranking_is_a_section_of_the_report(runs, tmp_path):
    store = ArenaStore(tmp_path / "arena.sqlite")
    judge_arena(Arena(load_runs(runs), store), "openai/judge", None, {}, None, 2, lambda text: None,
                backend=ScriptedBackend(preferring))
    report = tmp_path / "report.html"
    result = run_evalkit("report", *runs, "-o", report, "--arena", tmp_path / "arena.sqlite", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    html = report.read_text(encoding="utf-8")
    assert '<section id="arena">' in html and "arena ranking (all votes)" in html and 'id="arena-ratings"' in html
    missing = run_evalkit("report", *runs, "-o", report, "--arena", tmp_path / "none.sqlite", cwd=tmp_path)
    assert missing.returncode == 2 and stderr_lines(missing) == [f"error: --arena {tmp_path / 'none.sqlite'} does not exist"]
