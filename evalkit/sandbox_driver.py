"""The sandbox's own processes: a zygote that forks a runner per program, its namespaces, the referee and the candidate.

Per program (trusted code down to the candidate's first line of the program):

    zygote     started once per harness process and isolation mode (`python -I -S -B`, a scrubbed
     |         environment, one thread), so no program pays for an interpreter start. It moves into
     |         a mount namespace of its own (and, without root, a user namespace) whose root holds
     |         only the standard library (evalkit/sandbox_confine.py `build_root`), so no program
     |         pays for building one either
     runner    its own session; joins the program's cgroups (as root, where the machine has them);
     |         unshare(2) into new mount, network, IPC and PID namespaces; kills the referee if it
     |         overruns the time limit
     referee   PID 1 of the new PID namespace: its scratch mounts (/work, /dev/shm, /proc);
     |         forks the candidate, then reads the test and runs it against the candidate's answers
     |         (evalkit/sandbox_referee.py); writes the verdict to the report pipe. When it exits,
     |         the kernel kills everything left in the namespace.
     candidate confines itself (uid, capabilities, keyring, seccomp, limits), says so on a pipe
               the program never holds, then runs the program and answers calls

Only trusted processes hold the report pipe, so the harness (evalkit/sandbox.py) takes its facts as
they come. The candidate's source arrives in one memfd, the test in another that only the referee
reads, after the candidate is forked: the test never sits in the candidate's memory.
"""

from __future__ import annotations

import _signal  # not `signal`: that one imports enum
import ctypes
import json
import os
import select
import sys
import time

from evalkit.sandbox_confine import WORK, build_root, confine_candidate, scratch_mounts
from evalkit.sandbox_referee import Channel, death_status, describe, run_referee, serve_candidate
from evalkit.sandbox_wire import decode_fields, encode_fields

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
SIGKILL = 9
HARD_MARGIN = 1.0  # seconds the referee may run past the time limit (its own test code) before the runner kills it
# Imported once in the zygote, so that no program pays for them: what tests, prompts and solutions import most.
PRELOAD = ("math", "random", "re", "string", "collections", "itertools", "functools", "heapq", "bisect", "typing",
           "hashlib", "copy", "fractions", "decimal", "statistics", "operator", "datetime")

LIBC = ctypes.CDLL(None, use_errno=True)
HOST_PROC = -1  # the zygote's handle on the host's /proc, kept across its pivot_root (the runner writes its own files there)
SETUP_ERROR = ""  # why the zygote could not build the sandbox's root: every program of it is then a sandbox_error


def read_memfd(fd: int) -> dict:
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0)
    os.close(fd)
    return json.loads(data)


class Candidate:
    """The candidate's process as the referee sees it: a pidfd, how it ended, and its CPU time."""

    def __init__(self, pid: int, cfg: dict[str, str]) -> None:
        self.pid, self.cfg = pid, cfg
        self.pidfd = os.pidfd_open(pid)
        self.cpu_seconds: float | None = None
        self.wait_status = 0

    def reap(self) -> None:
        if self.cpu_seconds is None:
            _, self.wait_status, usage = os.wait4(self.pid, 0)
            self.cpu_seconds = usage.ru_utime + usage.ru_stime

    def ending(self) -> tuple[str, str]:
        """How the process ended on its own, once it has."""
        self.reap()
        return death_status(self.wait_status, self.cpu_seconds or 0.0, int(self.cfg["cpu"]), int(self.cfg["memory"]))

    def stop(self) -> float:
        if self.cpu_seconds is None:
            try:
                os.kill(self.pid, SIGKILL)
            except ProcessLookupError:
                pass
        self.reap()
        return round(self.cpu_seconds or 0.0, 3)


def start_candidate(cfg: dict[str, str], job: dict, calls: int, replies: int, setup: int) -> None:
    """The candidate's process: confinement, one word on the setup pipe, then the program; never returns."""
    try:
        LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
        keep = sorted({calls, replies, setup})
        start = 3
        for fd in keep:  # 0, 1, 2 are /dev/null; everything else the trusted processes held goes
            os.closerange(start, fd)
            start = fd + 1
        os.closerange(start, 1 << 16)
        confine_candidate(cfg)
        sys.path[:] = cfg["sys_path"].splitlines()  # the standard library only
        if "random" in sys.modules:  # preloaded by the zygote: every program would draw the same numbers
            sys.modules["random"].seed()
    except BaseException as exc:  # never run the program unconfined
        os.write(setup, describe(exc).encode("utf-8", "replace")[:500] or b"?")
        os._exit(3)
    os.write(setup, b"ok")
    os.close(setup)
    serve_candidate(job["source"], job["entry_point"], calls, replies, int(cfg["output"]))


def confined(setup: int, deadline: float) -> str | None:
    """None when the candidate reported its confinement done, else why it could not confine itself."""
    data = b""
    while len(data) < 1000:
        ready, _, _ = select.select([setup], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return "the candidate's process did not start in time"
        block = os.read(setup, 1000)
        if not block:
            break
        data += block
    os.close(setup)
    return None if data == b"ok" else f"candidate setup: {data.decode('utf-8', 'replace') or 'it ended first'}"


def run_sandbox(cfg: dict[str, str], report: int, job_fd: int, test_fd: int) -> None:
    """The referee: PID 1 of the namespaces (or the runner itself without them); never returns."""
    started = time.monotonic()
    deadline = started + float(cfg["timeout"])
    try:
        job = read_memfd(job_fd)
        view = scratch_mounts(cfg) if cfg["mode"] != "none" else {"root": "host"}
        os.chdir(WORK if cfg["mode"] != "none" else cfg["work"])
        LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no process of the same uid may read this one's memory or descriptors
        calls_r, calls_w = os.pipe()
        replies_r, replies_w = os.pipe()
        setup_r, setup_w = os.pipe()
    except OSError as exc:
        os.write(report, encode_fields({"status": "sandbox_error", "message": f"setup: {exc}"}))
        os._exit(2)
    pid = os.fork()
    if pid == 0:
        start_candidate(cfg, job, calls_r, replies_w, setup_w)
    for fd in (calls_r, replies_w, setup_w):
        os.close(fd)
    os.chdir("/")  # the working folder is the program's: nothing the referee reads comes from there
    del job
    candidate = Candidate(pid, cfg)
    problem = confined(setup_r, deadline)
    if problem is not None:
        status, message, output = "sandbox_error", problem, ""
    else:
        channel = Channel(candidate.pidfd, calls_w, replies_r, deadline, candidate.ending)
        trusted = read_memfd(test_fd) if test_fd >= 0 else {"setup": "", "test": "", "entry_point": ""}
        status, message = run_referee(channel, trusted["setup"], trusted["test"], trusted["entry_point"])
        if status != "passed":
            channel.fetch_output()
        output = channel.output
    cpu = candidate.stop()
    if cfg["mode"] == "none" and cfg["uid"]:
        kill_uid(int(cfg["uid"]))
    facts = {"status": status, "message": message[:300], "output": output[: int(cfg["output"])], "cpu_seconds": cpu,
             "seconds": round(time.monotonic() - started, 3), **view}
    os.write(report, encode_fields(facts))
    os._exit(0)  # PID 1 leaving takes every process still in the namespace with it


def kill_uid(uid: int) -> None:
    """Without a PID namespace: end every process left under the sandbox uid (ones that left the process group too)."""
    reaper = os.fork()
    if reaper == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, SIGKILL)  # every process this uid may signal: its own, except this one
        finally:
            os._exit(0)
    os.waitpid(reaper, 0)


def enter_namespaces() -> None:
    """unshare(2) into new mount, network, IPC and PID namespaces (inside the zygote's user namespace, if any)."""
    if LIBC.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWPID) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    _make_private()


def _make_private() -> None:
    """Nothing mounted in this mount namespace may propagate back to the one it was copied from."""
    if LIBC.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")


def prepare_zygote(setup: dict) -> None:
    """The zygote's own namespaces and root: a mount namespace (and, without root, a user namespace in which
    it is uid 0) whose `/` holds only the standard library; a handle on the host's /proc kept for the runners."""
    global HOST_PROC
    HOST_PROC = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
    if setup["mode"] == "none":
        return
    outer_uid, outer_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | (CLONE_NEWUSER if setup["mode"] == "userns" else 0)
    if LIBC.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    if setup["mode"] == "userns":  # uid 0 inside is this user outside; nothing else is mapped
        for name, text in (("setgroups", "deny"), ("uid_map", f"0 {outer_uid} 1"), ("gid_map", f"0 {outer_gid} 1")):
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)
    _make_private()
    build_root(setup["root_binds"], setup["root_covers"], setup["staging"], keep_proc=setup["mode"] == "userns")


def join_cgroups(procs_fds: list[int]) -> None:
    """Move this runner (and so everything it starts) into the program's cgroups: the harness opened their
    cgroup.procs files (the zygote's root has no /sys)."""
    for fd in procs_fds:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)


def wait_referee(pid: int, limit: float) -> bool:
    """Wait for the referee; True when it had to be killed for overrunning `limit` seconds."""
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd], [], [], limit)
    os.close(pidfd)
    if not ready:
        os.kill(pid, SIGKILL)
    os.waitpid(pid, 0)
    return not ready


def run_one(cfg: dict[str, str], report: int, job_fd: int, test_fd: int, procs_fds: list[int]) -> None:
    """A runner, forked by the zygote for one program: cgroups, namespaces, then the referee; never returns."""
    try:
        if SETUP_ERROR:
            raise OSError(SETUP_ERROR)
        os.setsid()  # its own process group: the harness can kill the whole sandbox at once
        os.write(report, encode_fields({"runner": os.getpid()}))
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        home = WORK if cfg["mode"] != "none" else cfg["work"]
        os.environ.update(HOME=home, TMPDIR=home)
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)  # the zygote's auto-reaping would hide exit statuses
        join_cgroups(procs_fds)
        adjust = os.open("self/oom_score_adj", os.O_WRONLY, dir_fd=HOST_PROC)
        os.write(adjust, b"1000")  # the sandbox dies first when memory runs out
        os.close(adjust)
        if cfg["mode"] == "none":
            run_sandbox(cfg, report, job_fd, test_fd)
        enter_namespaces()
        first = os.fork()
        if first == 0:
            LIBC.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
            run_sandbox(cfg, report, job_fd, test_fd)
        for fd in (job_fd, test_fd):
            if fd >= 0:
                os.close(fd)
        # The report pipe stays open here until PID 1 is reaped, which the kernel allows only once
        # every other process of the namespace is gone: the harness's EOF means nothing is left.
        if wait_referee(first, float(cfg["timeout"]) + HARD_MARGIN):
            os.write(report, encode_fields({"hard_timeout": 1}))
        os._exit(0)
    except BaseException as exc:
        os.write(report, encode_fields({"status": "sandbox_error", "message": f"runner: {describe(exc)}"}))
        os._exit(2)


def serve(setup: dict) -> None:
    """The zygote: one request per message on fd 0, one runner forked per request. A request is a config and
    descriptors, named in order by its `fds` field: the report pipe's write end, the program's memfd, the
    test's memfd (when there is a test) and the cgroup.procs files to join.

    Started once per harness process and isolation mode from a fresh interpreter with a scrubbed
    environment and kept single-threaded, so each fork is cheap and safe; it exits when the harness
    closes the socket.
    """
    global SETUP_ERROR
    import socket  # the zygote only: the in-sandbox processes never need it

    for name in PRELOAD:
        __import__(name)
    sys.path.pop(0)  # the folder evalkit was imported from: nothing after this needs it
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # without namespaces a program runs under this uid: no reading this memory
    os.umask(0o022)  # folders made for mount points must be traversable by the sandbox uid
    try:
        prepare_zygote(setup)
    except OSError as exc:
        SETUP_ERROR = f"sandbox root: {exc}"
    _signal.signal(_signal.SIGCHLD, _signal.SIG_IGN)  # runners are reaped by the kernel
    channel = socket.socket(fileno=0)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(channel, 1 << 16, 8)
        except InterruptedError:
            continue
        if not message:
            os._exit(0)
        cfg = decode_fields(message.decode("ascii", "replace"))
        names = cfg.get("fds", "").split()
        named = dict(zip(names, fds))
        if len(names) == len(fds) and "report" in named and "job" in named and os.fork() == 0:
            channel.close()
            run_one(cfg, named["report"], named["job"], named.get("test", -1),
                    [fd for name, fd in zip(names, fds) if name == "cgroup"])
        for fd in fds:
            os.close(fd)
