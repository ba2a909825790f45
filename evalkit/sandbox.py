"""The sandbox for generated code: each program in its own namespaces and process tree, limited, timed, with nothing inherited.

Layers, strongest first, and what each one protects (the processes are in evalkit/sandbox_driver.py):

- Namespaces, entered with unshare(2): a private network namespace (no interface but a loopback
  that is down: no connection leaves, not even to 127.0.0.1), a PID namespace (the program sees
  and can signal only its own processes, and every process it started dies with the namespace's
  first process), an IPC namespace, and a mount namespace in which every mount is read-only,
  homes and scratch folders (/root, /home, /tmp, ...) are covered by empty tmpfs, and the working
  directory is a fresh size-limited tmpfs that disappears with the namespace.
- A sandbox uid: as root, the program runs under a uid of its own (one per concurrent program, in
  a range no account uses), so it owns no file on the host, cannot signal another sandbox, and
  RLIMIT_NPROC (which counts per uid, and never for root) caps its processes. Without root, the
  same namespaces inside a user namespace, with every capability dropped and the securebits
  locked. Both: PR_SET_NO_NEW_PRIVS, so no setuid binary lifts anything.
- Resource limits (CPU time, address space, file size, processes, open files, no core dumps) and
  a wall-clock timeout enforced twice: by the sandbox's first process, and by the harness, which
  kills the sandbox's whole process group if that process does not answer in time.
- A scrubbed environment (PATH, HOME, LANG, TMPDIR: no API key reaches the program) in an
  interpreter started with -I -S -B; stdout / stderr are swallowed after a few hundred characters.
- The verdict: passed only when the child process itself wrote back a per-run random token after
  the program (with its `check(...)` call) returned, and then exited 0, so `sys.exit(0)` or
  `os._exit(0)` before the tests finish is a failure, not a pass. The token guards against code
  that stops early by accident; it is not a defence against code written to forge a pass.

Where namespaces are refused (a container that forbids unshare, non-Linux) programs still run with
the limits, the timeout and, as root, the uid; results then say `network_isolated: false`.
EVALKIT_SANDBOX_ISOLATION=namespaces|userns|none forces a mode. (As root, `userns` has no process
limit: the kernel never applies RLIMIT_NPROC to uid 0, which is why root gets `namespaces`.)
"""

from __future__ import annotations

import atexit
import math
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from evalkit.errors import EvalkitError
from evalkit.sandbox_driver import decode, encode

DRIVER = Path(__file__).with_name("sandbox_driver.py")
ISOLATION_ENV = "EVALKIT_SANDBOX_ISOLATION"  # auto (default) | namespaces | userns | none
UID_BASE = 2_000_000_000  # far above any account and systemd's dynamic and container ranges
UID_SLOTS = 64  # sandbox uids per harness process; more concurrent programs share them
GRACE_SECONDS = 5.0  # the sandbox enforces the timeout; the harness steps in only if the sandbox hangs
REPORT_CAP = 1 << 20
PRIVATE_DIRS = ("/root", "/home", "/tmp", "/var/tmp", "/dev/shm", "/run/user")
ZYGOTE_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1"}  # all a program inherits

@dataclass(frozen=True)
class SandboxLimits:
    """Per-program limits. The CPU limit follows the wall-clock timeout."""

    timeout: float = 10.0  # generous: a loaded machine must not turn a slow correct program into a failure
    memory_bytes: int = 2 * 1024**3  # RLIMIT_AS
    file_bytes: int = 16 * 1024**2  # RLIMIT_FSIZE: the largest file the program may write
    processes: int = 64  # RLIMIT_NPROC of the sandbox uid (threads count too)
    open_files: int = 256
    tmpfs_bytes: int = 64 * 1024**2  # the working directory, all files together
    output_chars: int = 200  # of the program's printed output, kept with a failure

    @property
    def cpu_seconds(self) -> int:
        return max(1, math.ceil(self.timeout))


@dataclass(frozen=True)
class SandboxResult:
    """How one program ended, and in `details` how it was isolated.

    `status`: passed, assertion, exception:<Type>, timeout, syntax_error, killed_memory,
    killed:<SIGNAL>, early_exit, or sandbox_error, the one that is the harness's failure rather
    than the program's (scored None, not 0)."""

    status: str
    message: str = ""
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class Isolation:
    mode: str  # namespaces | userns | none
    sandbox_uid: bool  # run the program under a uid of its own (needs root)
    note: str = ""  # why a stronger mode was not available

    @property
    def namespaces(self) -> bool:
        return self.mode != "none"


class UidPool:
    """Sandbox uids, one per concurrent program, so that programs cannot signal each other."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[int] = []
        self._issued = 0
        self._base = UID_BASE + (os.getpid() % 30_000) * UID_SLOTS  # distinct between harness processes

    def acquire(self) -> int:
        with self._lock:
            if self._free:
                return self._free.pop()
            uid = self._base + self._issued % UID_SLOTS
            self._issued += 1
            return uid

    @property
    def uids(self) -> range:
        """Every uid this harness process may give a program (other harness processes use other blocks)."""
        return range(self._base, self._base + UID_SLOTS)

    def release(self, uid: int) -> None:
        with self._lock:
            if uid not in self._free:
                self._free.append(uid)


UIDS = UidPool()


class Zygote:
    """The process that forks every sandbox (evalkit/sandbox_driver.py `serve`), started on first use.

    A fresh interpreter per program would cost more CPU than most programs; forking the harness
    itself is unsafe once it has threads. The zygote is started once, single-threaded, with a
    scrubbed environment, and takes one message per program on a socket: the configuration and
    the write end of that program's report pipe. It exits when this process closes the socket.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        atexit.register(self.close)

    def submit(self, message: bytes, report_fd: int) -> None:
        with self._lock:
            for _ in range(2):  # a zygote that died is replaced, once
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                try:
                    socket.send_fds(self._socket, [message], [report_fd])
                    return
                except OSError:
                    self.close()
            raise OSError("the sandbox zygote does not accept programs")

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(DRIVER)], stdin=theirs.fileno(), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=ZYGOTE_ENV, cwd="/", start_new_session=True,
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


ZYGOTE = Zygote()


def _exposed_paths(work: str) -> list[str]:
    """What the program must still reach under the covered folders: the interpreter, the venv, its working dir."""
    paths = [sys.base_prefix, sys.prefix, *site_dirs(), work]
    return sorted({os.path.realpath(p) for p in paths})


@lru_cache(maxsize=1)
def site_dirs() -> list[str]:
    """The harness's site-packages, on the program's sys.path without running their .pth files (-S)."""
    paths = sysconfig.get_paths()
    return sorted({paths["purelib"], paths["platlib"]})


def _private_dirs() -> list[str]:
    homes = {os.path.expanduser("~"), *PRIVATE_DIRS}
    return sorted(os.path.realpath(p) for p in homes if os.path.isdir(p) and os.path.realpath(p) != "/")


def execute(program: str, limits: SandboxLimits, isolation: Isolation) -> SandboxResult:
    """Run one program (source text) in the sandbox and return how it ended. Never raises for the program's sake."""
    started = time.monotonic()
    uid = UIDS.acquire() if isolation.sandbox_uid else None
    work = tempfile.mkdtemp(prefix="evalkit-sandbox-")
    read_fd, write_fd = os.pipe()
    try:
        Path(work, "program.py").write_text(program, encoding="utf-8")
        if uid is not None and not isolation.namespaces:
            os.chown(work, uid, uid)  # with namespaces the driver mounts a tmpfs owned by the uid instead
        token = secrets.token_hex(16)
        config = {
            "mode": isolation.mode, "work": work, "program": "program.py", "token": token,
            "uid": "" if uid is None else uid, "hide": "\n".join(_private_dirs()),
            "expose": "\n".join(_exposed_paths(work)), "site_dirs": "\n".join(site_dirs()),
            "timeout": limits.timeout, "cpu": limits.cpu_seconds, "memory": limits.memory_bytes,
            "fsize": limits.file_bytes, "nproc": limits.processes, "nofile": limits.open_files,
            "tmpfs": limits.tmpfs_bytes, "output": limits.output_chars,
        }
        try:
            ZYGOTE.submit(encode(config), write_fd)
        except OSError as exc:
            return SandboxResult("sandbox_error", str(exc), round(time.monotonic() - started, 3))
        finally:
            os.close(write_fd)
        facts, hung, runner = _collect(read_fd, time.monotonic() + limits.timeout + GRACE_SECONDS)
        if runner and (hung or not isolation.namespaces):  # no PID namespace took the program's processes with it
            _kill_group(runner)
        result = _result(facts, hung, limits, token)
    finally:
        os.close(read_fd)
        shutil.rmtree(work, ignore_errors=True)
        if uid is not None:
            UIDS.release(uid)
    details = {"isolation": isolation.mode, "network_isolated": isolation.namespaces, **result.details}
    return SandboxResult(result.status, result.message, round(time.monotonic() - started, 3), details)


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
        facts.update(decode(line))
    runner = facts.pop("runner", "")
    return facts, hung, int(runner) if runner.isdigit() else None


def _kill_group(runner: int) -> None:
    """The runner leads the sandbox's process group; with its PID 1 goes everything in the namespaces."""
    try:
        os.killpg(runner, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _result(facts: dict[str, str], hung: bool, limits: SandboxLimits, token: str) -> SandboxResult:
    if facts:
        status, message = verdict(facts, token, limits)
        details: dict[str, Any] = {"cpu_seconds": float(facts.get("cpu_seconds") or 0)}
        if facts.get("child_output"):
            details["output"] = facts["child_output"]
        if "readonly" in facts:
            details.update(readonly=facts["readonly"], private_proc=facts.get("private_proc") == "1",
                           hidden=facts.get("hidden", "").splitlines())
        return SandboxResult(status, message, 0.0, details)
    if hung:
        return SandboxResult("timeout", f"no answer within {limits.timeout + GRACE_SECONDS:g} s; process group killed")
    # Nothing reported and not hung: something killed the sandbox's first process (only possible
    # without a PID namespace, where the program may reach it). A failure, not an infrastructure error.
    return SandboxResult("killed:driver", "the sandbox ended without a report")


def verdict(facts: Mapping[str, str], token: str, limits: SandboxLimits) -> tuple[str, str]:
    """(status, message) from the driver's facts. Passed only when the child itself reached the end of
    the program, proved by the run's token, and exited 0."""
    if facts.get("status"):  # the driver could not set the sandbox up
        return facts["status"], facts.get("message", "")
    if facts.get("timed_out") == "1":
        return "timeout", f"wall-clock limit of {limits.timeout:g} s"
    exit_code = int(facts.get("exit") or 0)
    child = facts.get("child_status", "")
    if child == "passed":
        if secrets.compare_digest(facts.get("child_token", ""), token) and exit_code == 0:
            return "passed", ""
        return "early_exit", "the program's end was not reached as the harness ran it"
    if child:
        return child, facts.get("child_message", "")
    if exit_code < 0:
        sig = -exit_code
        cpu = float(facts.get("cpu_seconds") or 0)
        if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= limits.cpu_seconds - 0.05):
            return "timeout", f"CPU limit of {limits.cpu_seconds} s"
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):  # how allocation failures in C code end
            return "killed_memory", f"{signal.Signals(sig).name} under an address-space limit of {limits.memory_bytes} bytes"
        return f"killed:{_signal_name(sig)}", ""
    return "early_exit", f"exited with code {exit_code} before its tests finished"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


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
        probe = execute("pass\n", SandboxLimits(timeout=10.0), candidate)
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

    def run(self, program: str) -> SandboxResult:
        return execute(program, self.limits, self.isolation)
