"""The sandbox, specified: how programs end, how a test's verdict is reached, and that a program sees only its own root.

The hostile programs run only where the sandbox has its namespaces (mount, network, PID) and, as
root, a uid of its own; without them (`none`), a fork bomb or a delete could reach this machine,
so those tests are skipped there. Limits are small so each case ends within a few seconds.
Attacks on the verdict itself (forged passes, forged errors) are in tests/test_sandbox_hostile.py.
"""

from __future__ import annotations

import math
import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from evalkit.sandbox import SLOTS, UID_BASE, CodeTest, Isolation, Sandbox, SandboxLimits, detect_isolation
from evalkit.sandbox_referee import death_status
from evalkit.sandbox_root import root_binds
from evalkit.sandbox_wire import BadValue, dumps, loads

LIMITS = SandboxLimits(timeout=2.0, memory_bytes=1024**3, file_bytes=8 * 1024**2, processes=32)
ISOLATED = detect_isolation().namespaces
needs_namespaces = pytest.mark.skipif(not ISOLATED, reason=f"no namespaces here ({detect_isolation().note})")


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(LIMITS)


# --- how programs end (a program without a test: `passed` means it ran to its end) -------------

ENDINGS = [
    ("correct", "def f(x):\n    return x + 1\nassert f(1) == 2\n", "passed"),
    ("wrong answer", "def f(x):\n    return x\nassert f(1) == 2\n", "assertion"),
    ("crash", "def f(x):\n    return 1 / 0\nf(1)\n", "exception:ZeroDivisionError"),
    ("name error", "undefined_name()\n", "exception:NameError"),
    ("syntax error", "def f(x:\n    return x\n", "syntax_error"),
    ("indentation error", "def f(x):\nreturn x\n", "syntax_error"),
    ("a lone surrogate in the source", "x = '\ud800'\n", "syntax_error"),
    ("a NUL in the source", "x = 1\x00\n", "syntax_error"),
    ("sys.exit(0) before the end", "import sys\nsys.exit(0)\nassert False\n", "early_exit"),
    ("os._exit(0) before the end", "import os\nos._exit(0)\nassert False\n", "early_exit"),
    ("exit(0) from a function it calls", "def f():\n    raise SystemExit(0)\nf()\n", "early_exit"),
    ("deep recursion", "def f(n):\n    return f(n + 1)\nf(0)\n", "exception:RecursionError"),
    ("threads left running do not hold the verdict",
     "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n", "passed"),
    ("the standard library imports", "import math, hashlib, collections, json, sqlite3, decimal, zlib\n", "passed"),
    ("installed packages are not there", "import numpy\n", "exception:ModuleNotFoundError"),
    ("stdin is empty", "input()\n", "exception:EOFError"),
]


@pytest.mark.parametrize("program, expected", [c[1:] for c in ENDINGS], ids=[c[0] for c in ENDINGS])
def test_how_a_program_ends(sandbox, program, expected):
    result = sandbox.run(program)
    assert result.status == expected, result
    assert result.passed == (expected == "passed") and not result.error


def test_programs_run_side_by_side_from_threads(sandbox):
    """The runner scores from several threads at once; each program gets its own verdict."""
    programs = [f"assert {i} % 2 == 0\n" for i in range(8)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(sandbox.run, programs))
    assert [r.passed for r in results] == [i % 2 == 0 for i in range(8)]


# --- a program against a test: the verdict is the test's, reached in the referee -------------------

ADD_ONE = CodeTest(test="def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(x=-1) == 0\n",
                   entry_point="add_one")
TESTED = [
    ("correct", "def add_one(x):\n    return x + 1\n", "passed"),
    ("wrong", "def add_one(x):\n    return x\n", "assertion"),
    ("raises", "def add_one(x):\n    raise ValueError('no')\n", "exception:ValueError"),
    ("raises its own exception class", "class Nope(Exception): pass\ndef add_one(x):\n    raise Nope()\n", "exception:Nope"),
    ("hangs in the call", "def add_one(x):\n    while True:\n        pass\n", "timeout"),
    ("hangs while loading", "import time\ntime.sleep(60)\ndef add_one(x):\n    return x + 1\n", "timeout"),
    ("exits in the call", "import os\ndef add_one(x):\n    os._exit(0)\n", "early_exit"),
    ("killed in the call", "import os, signal\ndef add_one(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
     "killed:SIGKILL"),
    ("the function is missing", "def other(x):\n    return x + 1\n", "exception:NameError"),
    ("the module fails to load", "def add_one(x):\n    return x + 1\nraise KeyError(1)\n", "exception:KeyError"),
    ("does not compile", "def add_one(x)\n    return x + 1\n", "syntax_error"),
    ("returns what the channel does not carry", "def add_one(x):\n    return object()\n", "exception:TypeError"),
    ("returns a float for an int", "def add_one(x):\n    return x + 1.0\n", "passed"),  # 2.0 == 2, as in Python
]


@pytest.mark.parametrize("program, expected", [c[1:] for c in TESTED], ids=[c[0] for c in TESTED])
def test_a_test_runs_against_the_program(sandbox, program, expected):
    result = sandbox.run(program, ADD_ONE)
    assert result.status == expected, result
    assert result.seconds < LIMITS.timeout + 3


def test_the_test_uses_the_prompt_s_helpers_and_may_name_the_entry_point():
    """HumanEval/32's test calls the prompt's `poly`; HumanEval/33's calls the entry point by its name."""
    setup = "def double(x):\n    return 2 * x\n\n\ndef halve(x):\n    '''Undo double.'''\n"
    test = CodeTest(test="def check(candidate):\n    assert candidate(double(21)) == 21\n    assert halve(8) == 4\n",
                    entry_point="halve", setup=setup)
    sandbox = Sandbox(LIMITS)
    assert sandbox.run(setup + "    return x // 2\n", test).passed
    # the program's own `double` is not the one the test uses
    assert sandbox.run("def double(x):\n    return 0\n\n\ndef halve(x):\n    return 0\n", test).status == "assertion"


def test_a_failure_keeps_what_the_program_printed(sandbox):
    result = sandbox.run("print('debugging', 41)\ndef add_one(x):\n    return x\n", ADD_ONE)
    assert result.status == "assertion" and result.details["output"] == "debugging 41\n"


def test_a_test_that_cannot_run_through_the_channel_is_an_error_not_a_failure(sandbox):
    test = CodeTest(test="def check(candidate):\n    assert candidate(lambda: 1) == 1\n", entry_point="f")
    result = sandbox.run("def f(g):\n    return g()\n", test)
    assert result.status == "sandbox_error" and result.error and "does not carry" in result.message


def test_a_test_that_does_not_load_is_an_error(sandbox):
    result = sandbox.run("def f():\n    return 1\n", CodeTest(test="def check(candidate)\n", entry_point="f"))
    assert result.error and "the test did not load" in result.message


# --- the wire: plain values only -------------------------------------------------------------------

ROUND_TRIPS = [None, True, False, 0, -7, 2**100, 1.5, -0.0, math.inf, -math.inf, "", "日本語", "\ud800", b"\x00\xff",
               [], [1, [2, [3]]], (), (1, "a", (2.5,)), {}, {"a": 1, 2: [3], (1, 2): {"x"}}, {1, 2}, frozenset({3}),
               [True, 1, 1.0]]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=[repr(v)[:30] for v in ROUND_TRIPS])
def test_plain_values_travel_unchanged_with_their_types(value):
    back = loads(dumps(value))
    assert back == value and repr(back) == repr(value)


def test_nan_travels():
    assert math.isnan(loads(dumps(float("nan"))))


class Sneaky(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


NOT_PLAIN = [object(), lambda: 1, (i for i in range(3)), type, Exception("x"), [object()], {"k": object()}]


@pytest.mark.parametrize("value", NOT_PLAIN, ids=[type(v).__name__ for v in NOT_PLAIN])
def test_anything_else_is_refused(value):
    with pytest.raises(BadValue):
        dumps(value)


def test_a_subclass_travels_as_its_base_type_without_its_methods():
    back = loads(dumps([Sneaky(3), Sneaky(4)]))
    assert back == [3, 4] and type(back[0]) is int and back[0] != 5


BAD_FRAMES = [b"", b"{", b'{"x": 1}', b'{"t": 1}', b'{"t": [1], "s": [2]}', b'{"d": [[[1], 2]]}', b'{"s": [[1]]}',
              b'{"b": "zz"}', b"[" * 100000 + b"]" * 100000, b"1" * 5000, b"\xff\xfe"]


@pytest.mark.parametrize("frame", BAD_FRAMES, ids=[repr(f[:20]) for f in BAD_FRAMES])
def test_frames_that_are_no_plain_value_are_refused(frame):
    with pytest.raises(BadValue):
        loads(frame)


DEATHS = [
    (0, 0.1, "early_exit"),
    (256 * 3, 0.1, "early_exit"),
    (signal.SIGXCPU, 2.0, "timeout"),
    (signal.SIGKILL, 2.0, "timeout"),  # the CPU hard limit
    (signal.SIGKILL, 0.1, "killed:SIGKILL"),
    (signal.SIGSEGV, 0.1, "killed_memory"),
]


@pytest.mark.parametrize("wait_status, cpu, expected", DEATHS)
def test_how_a_candidate_that_ended_is_described(wait_status, cpu, expected):
    assert death_status(wait_status, cpu, 2, LIMITS.memory_bytes)[0] == expected


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
            if uid in SLOTS.uids:
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
def test_the_program_s_root_holds_the_standard_library_only(sandbox, tmp_path):
    sentinel = tmp_path / "keep" / "sentinel.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("still here")
    program = (
        "import os, shutil\n"
        f"shutil.rmtree({str(sentinel.parent)!r}, ignore_errors=True)\n"
        f"os.remove({str(sentinel)!r})\n"
    )
    stdlib = os.path.dirname(os.__file__)
    escape = f"open({stdlib + '/evalkit-probe.py'!r}, 'w').write('escaped')\n"
    results = [sandbox.run(program), sandbox.run(escape)]
    assert [r.status for r in results] == ["exception:FileNotFoundError", "exception:OSError"], results
    assert "Read-only file system" in results[1].message
    assert sentinel.read_text() == "still here" and not Path(stdlib, "evalkit-probe.py").exists()
    binds, _ = root_binds()
    top = sorted({line.split("\t")[1].split("/")[1] for line in binds.splitlines()} | {"dev", "proc", "work"})
    listed = sandbox.run(f"import os\nassert sorted(os.listdir('/')) == {top!r}, os.listdir('/')\n")
    assert listed.passed and listed.details["root"] == "private", listed


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
    # nor through files in the homes: they are not in the program's root (but the folders above the interpreter's)
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    private = [str(e) for e in Path.home().iterdir() if not stdlib.startswith(os.path.realpath(e) + "/")][:20]
    assert sandbox.run(f"import os\nassert not [p for p in {private!r} if os.path.exists(p)]\n").passed


@needs_namespaces
def test_as_root_the_program_runs_under_a_sandbox_uid(sandbox):
    if not sandbox.isolation.sandbox_uid:
        pytest.skip("only root can give programs a uid of their own (and not in the userns mode)")
    result = sandbox.run(f"import os\nassert os.getuid() >= {UID_BASE} and os.getgroups() == []\n")
    assert result.passed, result


def test_without_namespaces_programs_still_run_with_limits_and_say_so():
    bare = Sandbox(LIMITS, isolation=Isolation("none", sandbox_uid=os.geteuid() == 0))
    passed, failed = bare.run("assert 1 + 1 == 2\n"), bare.run("assert 1 + 1 == 3\n")
    assert (passed.status, failed.status) == ("passed", "assertion")
    assert passed.details["network_isolated"] is False and passed.details["root"] == "host"
    assert bare.run("def add_one(x):\n    return x + 1\n", ADD_ONE).passed


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
    assert Sandbox(LIMITS, isolation=user_ns).run("def add_one(x):\n    return x + 1\n", ADD_ONE).passed


def test_an_unknown_isolation_setting_is_one_clear_error(monkeypatch):
    from evalkit.errors import EvalkitError
    from evalkit.sandbox import _candidates

    monkeypatch.setenv("EVALKIT_SANDBOX_ISOLATION", "chroot")
    with pytest.raises(EvalkitError, match="use auto, namespaces, userns or none"):
        _candidates()
