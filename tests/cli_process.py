"""Running `evalkit` and the stub server as separate processes, the way users and CI see them."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# What users type: the installed console script; `python -m evalkit.cli` where there is none.
_SCRIPT = Path(sys.executable).with_name("evalkit")
EVALKIT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "evalkit.cli"]

HANG_GUARD_S = 120  # only so a hung run fails the test instead of the CI job; never a timing assertion


def evalkit_env(**overrides: str) -> dict[str, str]:
    """This environment without an API key, data folder, cache path or debug switch, plus `overrides`."""
    dropped = ("OPENAI_API_KEY", "EVALKIT_DATA_DIR", "EVALKIT_CACHE", "EVALKIT_DEBUG")
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **overrides}


def run_evalkit(*args: object, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`evalkit ARGS...` to completion, output captured."""
    return subprocess.run(
        [*EVALKIT, *map(str, args)], cwd=cwd, env=env or evalkit_env(), capture_output=True, text=True,
        timeout=HANG_GUARD_S,
    )


def start_evalkit(*args: object, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """`evalkit ARGS...` in the background (to be killed mid-run)."""
    return subprocess.Popen(
        [*EVALKIT, *map(str, args)], cwd=cwd, env=env or evalkit_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stderr_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def free_port() -> int:
    """A loopback port nothing listens on (the OS picked it free an instant ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stub_process(log: Path, *options: object) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m evalkit.testing.stub_server --log LOG OPTIONS...` on a free port; returns the process and
    its base URL once it answers. Killing it is instant, even with stalled requests in flight."""
    for _ in range(3):  # another process may take the free port before the stub binds it
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "evalkit.testing.stub_server", "--port", str(port), "--log", str(log),
             *map(str, options)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        base_url = f"http://127.0.0.1:{port}/v1"
        if serving(proc, base_url):
            return proc, base_url
        proc.kill()
        proc.wait()
    raise RuntimeError("the stub server did not start")


def serving(proc: subprocess.Popen[bytes], base_url: str, seconds: float = 30, pause: float = 0.05) -> bool:
    """Whether the server `proc` started answers GET {base_url}/models within `seconds` (False once it exits)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"{base_url}/models", timeout=max(1.0, pause * 4)).close()
            return True
        except OSError:
            time.sleep(pause)
    return False


def server_answers(base_url: str) -> bool:
    """Whether an OpenAI-compatible server answers GET {base_url}/models with a model list (an opt-in test's skip check)."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:
            return response.status == 200 and "data" in json.load(response)
    except (OSError, ValueError):
        return False


def read_jsonl(path: Path) -> list[dict]:
    """Every non-empty line of a JSON-lines file, parsed (a bad line fails the test)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prompt_sha(record: dict) -> str:
    """The stub log's `prompt_sha` of the request behind a samples.jsonl record (completion prompts)."""
    return hashlib.sha256(record["prompt"].encode()).hexdigest()
