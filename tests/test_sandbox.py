"""The sandbox, specified: how programs end, and that hostile ones are contained, scored failed and leave the host alone.

The hostile programs run only where the sandbox has its namespaces (mount, network, PID) and, as
root, a uid of its own; without them (`none`), a fork bomb or a delete could reach this machine,
so those tests are skipped there. Limits are small so each case ends within a few seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evalkit.sandbox import (
    UID_BASE,
    UIDS,
    Isolation,
    Sandbox,
    SandboxLimits,
    detect_isolation,
    verdict,
)

LIMITS = SandboxLimits(timeout=2.0, memory_bytes=1024**3, file_bytes=8 * 1024**2, processes=32)
ISOLATED = detect_isolation().namespaces
needs_namespaces = pytest.mark.skipif(not ISOLATED, reason=f"no namespaces here ({detect_isolation().note})")


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(LIMITS)


# --- how programs end ------------------------------------------------------------------------

ENDINGS = [
    ("correct", "def f(x):\n    return x + 1\nassert f(1) == 2\n", "passed"),
    ("wrong answer", "def f(x):\n    return x\nassert f(1) == 2\n", "assertion"),
    ("crash", "def f(x):\n    return 1 / 0\nf(1)\n", "exception:ZeroDivisionError"),
    ("name error", "undefined_name()\n", "exception:NameError"),
    ("syntax error", "def f(x:\n    return x\n", "syntax_error"),
    ("indentation error", "def f(x):\nreturn x\n", "syntax_error"),
    ("sys.exit(0) before the asserts", "import sys\nsys.exit(0)\nassert False\n", "early_exit"),
    ("os._exit(0) before the asserts", "import os\nos._exit(0)\nassert False\n", "early_exit"),
    ("exit(0) from a function the check calls", "def f():\n    raise SystemExit(0)\nf()\n", "early_exit"),
    ("a forked copy finishes first, then the program exits 0",
     "import os, time\nif os.fork():\n    time.sleep(0.5)\n    os._exit(0)\n", "early_exit"),
    ("deep recursion", "def f(n):\n    return f(n + 1)\nf(0)\n", "exception:RecursionError"),
    ("threads left running do not hold the verdict",
     "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n", "passed"),
    ("standard library and installed packages import", "import math, hashlib, collections, numpy\n", "passed"),
    ("stdin is empty", "input()\n", "exception:EOFError"),
]


@pytest.mark.parametrize("program, expected", [c[1:] for c in ENDINGS], ids=[c[0] for c in ENDINGS])
def test_how_a_program_ends(sandbox, program, expected):
    result = sandbox.run(program)
    assert result.status == expected, result
    assert result.passed == (expected == "passed")


def test_programs_run_side_by_side_from_threads(sandbox):
    """The runner scores from several threads at once; each program gets its own verdict."""
    programs = [f"assert {i} % 2 == 0\n" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(sandbox.run, programs))
    assert [r.passed for r in results] == [i % 2 == 0 for i in range(8)]


# --- the verdict from the driver's facts (no process needed) ----------------------------------

TOKEN = "a" * 32
VERDICTS = [
    ({"child_status": "passed", "child_token": TOKEN, "exit": "0"}, "passed"),
    ({"child_status": "passed", "child_token": "forged", "exit": "0"}, "early_exit"),
    ({"child_status": "passed", "child_token": TOKEN, "exit": "1"}, "early_exit"),
    ({"exit": "0"}, "early_exit"),
    ({"child_status": "assertion", "exit": "1"}, "assertion"),
    ({"timed_out": "1", "exit": "-9"}, "timeout"),
    ({"exit": str(-signal.SIGXCPU), "cpu_seconds": "2.0"}, "timeout"),
    ({"exit": str(-signal.SIGKILL), "cpu_seconds": "2.0"}, "timeout"),  # the CPU hard limit
    ({"exit": str(-signal.SIGKILL), "cpu_seconds": "0.1"}, "killed:SIGKILL"),
    ({"exit": str(-signal.SIGSEGV), "cpu_seconds": "0.1"}, "killed_memory"),
    ({"status": "sandbox_error", "message": "setup: mount failed"}, "sandbox_error"),
]


@pytest.mark.parametrize("facts, expected", VERDICTS)
def test_verdict(facts, expected):
    assert verdict(facts, TOKEN, LIMITS)[0] == expected


# --- hostile programs ---------------------------------------------------------------------------


def sandbox_processes() -> list[int]:
    """Processes still running under one of this test process's sandbox uids (none once a run is over;
    other test runs on this machine use other uids)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = entry.stat().st_uid
            except OSError:
                continue
            if uid in UIDS.uids:
                found.append(int(entry.name))
    return found


HOSTILE = [
    ("infinite loop", "while True:\n    pass\n", {"timeout"}),
    ("sleeps forever", "import time\ntime.sleep(10**6)\n", {"timeout"}),
    ("fork bomb", "import os\nwhile True:\n    os.fork()\n", {"exception:BlockingIOError", "timeout"}),
    ("allocates 50 GB", "block = bytearray(50 * 1024**3)\n", {"killed_memory"}),
    ("writes a 10 GB file",
     "with open('big.bin', 'wb') as f:\n    for _ in range(10 * 1024):\n        f.write(bytes(1024**2))\n",
     {"exception:OSError"}),
    ("kills its parent", "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nassert False\n",
     {"exception:PermissionError", "assertion"}),
    ("kills every process it can", "import os, signal\nos.kill(-1, signal.SIGKILL)\nassert False\n",
     {"exception:ProcessLookupError", "killed:SIGKILL", "assertion"}),
    ("prints megabytes", "import os\nfor _ in range(50):\n    print('x' * 10**6)\nos.write(1, b'y' * 10**7)\nassert False\n",
     {"assertion"}),
]


@needs_namespaces
@pytest.mark.parametrize("program, allowed", [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_program_is_contained_and_fails(sandbox, program, allowed):
    result = sandbox.run(program)
    assert result.status in allowed, result
    assert not result.passed
    assert result.seconds < LIMITS.timeout + 3
    assert sandbox_processes() == []  # everything it started died with it
    assert sandbox.run("assert True\n").passed  # and the next program runs as usual


@needs_namespaces
def test_deleting_files_outside_the_working_directory_is_impossible(sandbox, tmp_path):
    sentinel = tmp_path / "keep" / "sentinel.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("still here")
    writable_elsewhere = Path(sys.prefix) / "evalkit-sandbox-probe"  # a folder root may write to, outside /tmp
    program = (
        "import os, shutil\n"
        f"shutil.rmtree({str(sentinel.parent)!r}, ignore_errors=True)\n"
        f"os.remove({str(sentinel)!r})\n"
    )
    escape = f"open({str(writable_elsewhere)!r}, 'w').write('escaped')\n"
    try:
        results = [sandbox.run(program), sandbox.run(escape)]
        assert [r.status for r in results] == ["exception:FileNotFoundError", "exception:OSError"], results
        assert "Read-only file system" in results[1].message
        assert sentinel.read_text() == "still here" and not writable_elsewhere.exists()
    finally:
        writable_elsewhere.unlink(missing_ok=True)


@needs_namespaces
def test_no_network_even_to_this_machine(sandbox):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = sandbox.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n")
        server.setblocking(False)
        with pytest.raises(BlockingIOError):  # a connection that got here would wait in the backlog
            server.accept()
    assert result.status == "exception:OSError" and "unreachable" in result.message, result
    assert result.details["network_isolated"] is True


@needs_namespaces
def test_no_secret_reaches_the_program(sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-for-programs")
    environment = "import os\nassert not [v for v in os.environ.values() if 'sk-test' in v], os.environ\n"
    assert sandbox.run(environment).passed
    # nor through /proc: the harness is not in the program's PID namespace
    harness = sandbox.run(f"open('/proc/{os.getpid()}/environ', 'rb').read()\n")
    assert harness.status in {"exception:FileNotFoundError", "exception:PermissionError"}, harness
    # nor through files in the homes: they are covered, except the interpreter's own folders
    home = Path.home()
    needed = [os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)]
    private = [str(e) for e in home.iterdir() if not any(n.startswith(os.path.realpath(e)) for n in needed)][:20]
    assert sandbox.run(f"import os\nassert not [p for p in {private!r} if os.path.exists(p)]\n").passed


@needs_namespaces
def test_as_root_the_program_runs_under_a_sandbox_uid(sandbox):
    if os.geteuid() != 0:
        pytest.skip("only root can give programs a uid of their own")
    result = sandbox.run(f"import os\nassert os.getuid() >= {UID_BASE} and os.getgroups() == []\n")
    assert result.passed, result
    assert result.details["isolation"] == "namespaces"


def test_without_namespaces_programs_still_run_with_limits_and_say_so():
    bare = Sandbox(LIMITS, isolation=Isolation("none", sandbox_uid=os.geteuid() == 0))
    passed, failed = bare.run("assert 1 + 1 == 2\n"), bare.run("assert 1 + 1 == 3\n")
    assert (passed.status, failed.status) == ("passed", "assertion")
    assert passed.details["network_isolated"] is False


def test_user_namespace_mode_drops_every_capability():
    user_ns = Isolation("userns", sandbox_uid=False)
    probe = Sandbox(LIMITS, isolation=user_ns).run("pass\n")
    if probe.status == "sandbox_error":
        pytest.skip(f"user namespaces are not available here: {probe.message}")
    program = (
        "status = open('/proc/self/status').read()\n"
        "assert 'CapEff:\\t0000000000000000' in status and 'NoNewPrivs:\\t1' in status\n"
    )
    assert Sandbox(LIMITS, isolation=user_ns).run(program).passed
