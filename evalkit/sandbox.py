"""The sandbox for generated code: the verdict decided outside the untrusted process, the program in a root of its own.

A program is run with, optionally, a test (`CodeTest`: the dataset's `check` code and the prompt it
may use). Where the processes are (evalkit/sandbox_driver.py):

- The candidate (the program: prompt + completion) runs in its own process; the test runs in the
  referee, a trusted process that calls the candidate's entry point through a pipe carrying plain
  values only (evalkit/sandbox_wire.py, evalkit/sandbox_referee.py). The verdict is the test's:
  nothing of the candidate's (an object with an always-true `__eq__`, a walk up its frames, a trace
  hook, an exit code, a line printed or written to any descriptor) can make a wrong answer pass.
- Namespaces, entered with unshare(2): a private network namespace (no interface but a loopback that
  is down, no abstract Unix socket of the host), a PID namespace whose first process is the referee
  (the program cannot signal it, and all its processes die with it), an IPC namespace with shared
  memory capped, and a mount namespace whose root is a fresh tmpfs holding only the interpreter's
  standard library and the libraries it loads, read-only, plus a size-limited tmpfs at /work (the
  working directory) and at /dev/shm (evalkit/sandbox_confine.py). The host's file system is not
  mounted at all: no data folder, request cache, result, home or socket file is there to find.
- The candidate runs under a uid of its own (as root; one per concurrent program) or with every
  capability dropped (in a user namespace without root), no_new_privs, a fresh session keyring and
  a seccomp filter that refuses the keyring syscalls, resource limits (CPU, address space, file
  size, processes, open files) and, where this process may make cgroups, a cgroup bounding the
  memory and processes of the whole program (evalkit/sandbox_cgroup.py).
- A wall-clock timeout enforced three times: by the referee (every wait on the candidate), by the
  runner (it kills the referee one second later), and by the harness (it kills the sandbox's
  process group if nothing answers).
- A scrubbed environment (PATH, HOME, LANG, TMPDIR: no API key reaches the program) in an
  interpreter started with -I -S -B; the program's output is swallowed after a few hundred characters.

A failure of the machinery itself (the sandbox could not start, the test passes a value the channel
does not carry) is the status `sandbox_error`: an error of the run, never a pass or a fail.

Where namespaces are refused (a container that forbids unshare, non-Linux) programs still run with
the limits, the timeout and, as root, the uid, in the host's file system; results then say
`network_isolated: false`. EVALKIT_SANDBOX_ISOLATION=namespaces|userns|none forces a mode. (As root,
`userns` has no process limit: the kernel never applies RLIMIT_NPROC to uid 0.)
"""

from __future__ import annotations

import atexit
import json
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from evalkit import sandbox_cgroup
from evalkit.errors import EvalkitError
from evalkit.sandbox_root import root_binds, stdlib_path
from evalkit.sandbox_wire import decode_fields, encode_fields

ISOLATION_ENV = "EVALKIT_SANDBOX_ISOLATION"  # auto (default) | namespaces | userns | none
UID_BASE = 2_000_000_000  # far above any account and systemd's dynamic and container ranges
UID_SLOTS = 64  # sandbox uids (and cgroups) per harness process; more concurrent programs share them
GRACE_SECONDS = 5.0  # the sandbox enforces the timeout; the harness steps in only if the sandbox hangs
REPORT_CAP = 1 << 20
ZYGOTE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}  # all a program inherits
# The zygote imports evalkit's sandbox modules from the folder evalkit lives in, then forgets that folder.
ZYGOTE_BOOT = ("import json, sys; sys.path.insert(0, sys.argv[1]); from evalkit.sandbox_driver import serve; "
               "serve(json.loads(sys.argv[2]))")
MFD_CLOEXEC = 1


@dataclass(frozen=True)
class SandboxLimits:
    """Per-program limits. The CPU limit follows the wall-clock timeout."""

    timeout: float = 10.0  # generous: a loaded machine must not turn a slow correct program into a failure
    memory_bytes: int = 2 * 1024**3  # RLIMIT_AS of each process, and the cgroup's bound on all of them
    file_bytes: int = 16 * 1024**2  # RLIMIT_FSIZE: the largest file the program may write (a memfd too)
    processes: int = 64  # RLIMIT_NPROC of the sandbox uid (threads count too), and the cgroup's bound
    open_files: int = 256
    tmpfs_bytes: int = 64 * 1024**2  # /work, /dev/shm and System V shared memory, each
    output_chars: int = 200  # of the program's printed output, kept with a failure

    @property
    def cpu_seconds(self) -> int:
        return max(1, math.ceil(self.timeout))


@dataclass(frozen=True)
class CodeTest:
    """The trusted half of a run: the dataset's test code (defines `check(candidate)`), the prompt text it
    may use (helper functions, imports), and the name of the function the candidate must define."""

    test: str
    entry_point: str
    setup: str = ""


@dataclass(frozen=True)
class SandboxResult:
    """How one program ended, and in `details` how it was isolated.

    `status`: passed, assertion, exception:<Type>, timeout, syntax_error, killed_memory,
    killed:<SIGNAL>, early_exit, bad_reply, or sandbox_error, the one that is the harness's failure
    rather than the program's (an error of the run, not a score)."""

    status: str
    message: str = ""
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def error(self) -> bool:
        return self.status == "sandbox_error"


@dataclass(frozen=True)
class Isolation:
    mode: str  # namespaces | userns | none
    sandbox_uid: bool  # run the program under a uid of its own (needs root)
    note: str = ""  # why a stronger mode was not available

    @property
    def namespaces(self) -> bool:
        return self.mode != "none"


class Slots:
    """Program slots, one per concurrent program: each has a sandbox uid and a cgroup of its own, so that
    programs cannot signal each other nor share a memory bound."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._issued = 0
        self._base = UID_BASE + (os.getpid() % 30_000) * UID_SLOTS  # distinct between harness processes

    def acquire(self) -> int:
        with self._lock:
            if self._free:
                return self._free.pop()
            slot = self._issued % UID_SLOTS
            self._issued += 1
            return slot

    def release(self, slot: int) -> None:
        with self._lock:
            if slot not in self._free:
                self._free.append(slot)

    def uid(self, slot: int) -> int:
        return self._base + slot

    @property
    def uids(self) -> range:
        """Every uid this harness process may give a program (other harness processes use other blocks)."""
        return range(self._base, self._base + UID_SLOTS)


SLOTS = Slots()


class Zygote:
    """The process that forks every sandbox of one isolation mode (evalkit/sandbox_driver.py `serve`), started on first use.

    A fresh interpreter per program would cost more CPU than most programs; forking the harness
    itself is unsafe once it has threads. The zygote is started once, single-threaded, with a
    scrubbed environment; with namespaces it builds the programs' root once, for all of them. It
    takes one message per program on a socket: the configuration, the write end of that program's
    report pipe, the program's (and test's) memfds and its cgroup.procs files. It exits when this
    process closes the socket.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        atexit.register(self.close)

    def submit(self, message: bytes, fds: list[int]) -> None:
        with self._lock:
            for _ in range(2):  # a zygote that died is replaced, once
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                try:
                    socket.send_fds(self._socket, [message], fds)
                    return
                except OSError:
                    self.close()
            raise OSError("the sandbox zygote does not accept programs")

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        package_parent = str(Path(__file__).resolve().parents[1])
        binds, covers = root_binds()
        setup = json.dumps({"mode": self.mode, "root_binds": binds, "root_covers": covers, "staging": _staging()})
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", "-c", ZYGOTE_BOOT, package_parent, setup], stdin=theirs.fileno(),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ZYGOTE_ENV, cwd="/", start_new_session=True,
            )
        self._socket = ours

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._proc is not None:
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None


_ZYGOTES: dict[str, Zygote] = {}
_ZYGOTES_LOCK = threading.Lock()


def zygote(mode: str) -> Zygote:
    with _ZYGOTES_LOCK:
        if mode not in _ZYGOTES:
            _ZYGOTES[mode] = Zygote(mode)
        return _ZYGOTES[mode]


def _memfd(name: str, document: dict) -> int:
    """A memfd holding `document` as ASCII JSON: any text travels, lone surrogates included (as escapes)."""
    fd = os.memfd_create(name, MFD_CLOEXEC)
    data = json.dumps(document, ensure_ascii=True).encode("ascii")
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return fd


def execute(program: str, test: CodeTest | None, limits: SandboxLimits, isolation: Isolation) -> SandboxResult:
    """Run one program (source text), against `test` when given, and return how it ended. Never raises for
    the program's sake. Without a test, `passed` means only that the program ran to its end."""
    started = time.monotonic()
    slot = SLOTS.acquire()
    work = tempfile.mkdtemp(prefix="evalkit-sandbox-") if not isolation.namespaces else ""
    try:
        cgroups = sandbox_cgroup.find()
        oom_before = cgroups.oom_kills(slot) if cgroups else 0
        report = _start(program, test, limits, isolation, slot, work, cgroups)
        try:
            facts, hung, runner = _collect(report, time.monotonic() + limits.timeout + GRACE_SECONDS)
        finally:
            os.close(report)
        if runner and (hung or not isolation.namespaces):  # no PID namespace took the program's processes with it
            _kill_group(runner)
        result = _result(facts, hung, limits, isolation, cgroups is not None and cgroups.oom_kills(slot) > oom_before)
    except OSError as exc:  # the harness could not start the run (a cgroup, a memfd, the zygote)
        return SandboxResult("sandbox_error", f"starting the sandbox: {exc}", round(time.monotonic() - started, 3))
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)
        SLOTS.release(slot)
    applied = {"isolation": isolation.mode, "network_isolated": isolation.namespaces,
               "memory_bound": cgroups.describe(limits.memory_bytes, limits.processes) if cgroups
               else f"per process: {limits.memory_bytes} bytes of address space, {limits.processes} processes"}
    return SandboxResult(result.status, result.message, round(time.monotonic() - started, 3), {**applied, **result.details})


def _start(program: str, test: CodeTest | None, limits: SandboxLimits, isolation: Isolation, slot: int, work: str,
           cgroups: sandbox_cgroup.Cgroups | None) -> int:
    """Hand the program to the zygote; the read end of its report pipe."""
    uid = SLOTS.uid(slot) if isolation.sandbox_uid else None
    if uid is not None and work:
        os.chown(work, uid, uid)  # with namespaces the sandbox mounts a tmpfs owned by the uid instead
    read_fd, write_fd = os.pipe()
    fds, names = [write_fd], ["report"]
    try:
        fds.append(_memfd("evalkit-program", {"source": program, "entry_point": test.entry_point if test else ""}))
        names.append("job")
        if test is not None:
            fds.append(_memfd("evalkit-test", {"setup": test.setup, "test": test.test, "entry_point": test.entry_point}))
            names.append("test")
        for procs in cgroups.slot(slot, limits.memory_bytes, limits.processes) if cgroups else []:
            fds.append(os.open(procs, os.O_WRONLY | os.O_CLOEXEC))
            names.append("cgroup")
        config = {
            "mode": isolation.mode, "fds": " ".join(names), "work": work, "uid": "" if uid is None else uid,
            "sys_path": "\n".join(stdlib_path()), "timeout": limits.timeout, "cpu": limits.cpu_seconds,
            "memory": limits.memory_bytes, "fsize": limits.file_bytes, "nproc": limits.processes,
            "nofile": limits.open_files, "tmpfs": limits.tmpfs_bytes, "output": limits.output_chars,
        }
        zygote(isolation.mode).submit(encode_fields(config), fds)
    except BaseException:
        os.close(read_fd)
        raise
    finally:  # the zygote holds its own copies now
        for fd in fds:
            os.close(fd)
    return read_fd


@lru_cache(maxsize=1)
def _staging() -> str:
    """An existing folder of the host that the sandbox's new root is mounted on (in its own mount namespace)."""
    return next(p for p in ("/tmp", "/mnt", "/var/tmp", "/") if os.path.isdir(p))


def _collect(fd: int, deadline: float) -> tuple[dict[str, str], bool, int | None]:
    """The sandbox's report lines, read until EOF or the deadline: (facts, hung, the runner's pid)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    data, hung = b"", False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or len(data) > REPORT_CAP:
            hung = True
            break
        if not poller.poll(remaining * 1000):
            continue
        block = os.read(fd, 65536)
        if not block:
            break
        data += block
    facts: dict[str, str] = {}
    for line in data.decode("ascii", "replace").splitlines():
        facts.update(decode_fields(line))
    runner = facts.pop("runner", "")
    return facts, hung, int(runner) if runner.isdigit() else None


def _kill_group(runner: int) -> None:
    """The runner leads the sandbox's process group; with its PID 1 goes everything in the namespaces."""
    try:
        os.killpg(runner, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _result(facts: dict[str, str], hung: bool, limits: SandboxLimits, isolation: Isolation, oom: bool) -> SandboxResult:
    """The verdict from the trusted processes' facts (only they hold the report pipe)."""
    if facts.get("status"):
        status, message = facts["status"], facts.get("message", "")
        if oom and status in ("killed:SIGKILL", "early_exit"):
            status, message = "killed_memory", f"the program's memory passed its cgroup bound of {limits.memory_bytes} bytes"
        details: dict[str, Any] = {"cpu_seconds": float(facts.get("cpu_seconds") or 0)}
        if facts.get("output"):
            details["output"] = facts["output"]
        details.update({k: facts[k] for k in ("root", "readonly", "ipc_limits") if k in facts})
        if "private_proc" in facts:
            details["private_proc"] = facts["private_proc"] == "1"
        return SandboxResult(status, message, 0.0, details)
    if hung or facts.get("hard_timeout"):
        return SandboxResult("timeout", f"no verdict within {limits.timeout:g} s; the sandbox was killed")
    if oom:
        return SandboxResult("killed_memory", f"the sandbox passed its cgroup bound of {limits.memory_bytes} bytes")
    if not isolation.namespaces:  # without a PID namespace the program can reach the referee: its doing
        return SandboxResult("killed:referee", "the sandbox ended without a verdict")
    return SandboxResult("sandbox_error", "the sandbox ended without a verdict")


def _candidates() -> list[Isolation]:
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    options = []
    if sys.platform.startswith("linux"):
        options.append(Isolation("namespaces", sandbox_uid=True) if root else Isolation("userns", sandbox_uid=False))
    options.append(Isolation("none", sandbox_uid=root))
    forced = os.environ.get(ISOLATION_ENV, "auto")
    if forced not in ("auto", "namespaces", "userns", "none"):
        raise EvalkitError(f"{ISOLATION_ENV}={forced!r}: use auto, namespaces, userns or none")
    if forced != "auto":
        options = [Isolation(forced, sandbox_uid=root and forced != "userns")]
    return options


@lru_cache(maxsize=1)
def detect_isolation() -> Isolation:
    """The strongest isolation that works here, found once per process by running a trivial program."""
    notes = []
    candidates = _candidates()
    for candidate in candidates[:-1]:
        probe = execute("pass\n", None, SandboxLimits(timeout=10.0), candidate)
        if probe.passed:
            return candidate
        notes.append(f"{candidate.mode}: {probe.status} {probe.message}".strip())
    last = candidates[-1]
    return Isolation(last.mode, last.sandbox_uid, "; ".join(notes))


class Sandbox:
    """Runs programs under `limits`, one per call; callers run several at once from threads."""

    def __init__(self, limits: SandboxLimits | None = None, isolation: Isolation | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._isolation = isolation

    @property
    def isolation(self) -> Isolation:
        if self._isolation is None:
            self._isolation = detect_isolation()
        return self._isolation

    def run(self, program: str, test: CodeTest | None = None) -> SandboxResult:
        return execute(program, test, self.limits, self.isolation)
