"""Inside the sandbox: the program's root of its own, its IPC limits, and the candidate's privileges, limits, keyring and syscall filter.

Run by the sandbox's processes (evalkit/sandbox_driver.py) after unshare(2), as root of the new
namespaces: `private_root` builds the file system the program sees; `confine_candidate` is the
last trusted step of the candidate's process before the program's first line.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct

AT_FDCWD, AT_RECURSIVE = -100, 0x8000
SYS_MOUNT_SETATTR = 442  # the same number on every Linux architecture (new syscalls are unified)
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID = 0x1, 0x2
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC = 1, 2, 4, 8, 4096, 16384
MNT_DETACH = 2
PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 28, 38, 22
SECURE_ALL_BITS_LOCKED = 0x3F  # NOROOT, NO_SETUID_FIXUP, KEEP_CAPS and their locks: uid 0 gains nothing
SECCOMP_MODE_FILTER = 2
KEYCTL_JOIN_SESSION_KEYRING = 1
# Per architecture: the audit arch seccomp sees, and the numbers of pivot_root, add_key, request_key, keyctl.
ARCHES = {
    "x86_64": (0xC000003E, 155, (248, 249, 250)),
    "aarch64": (0xC00000B7, 41, (217, 218, 219)),
}
ARCH = ARCHES.get(platform.machine())
WORK, SHM = "/work", "/dev/shm"

LIBC = ctypes.CDLL(None, use_errno=True)


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(LIBC.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def set_readonly(path: str, recursive: bool) -> None:
    attr = MountAttr(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    _check(LIBC.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags, ctypes.byref(attr), ctypes.sizeof(attr)),
           f"mount_setattr {path}")


def _mountpoint(path: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(path, exist_ok=True)
    elif not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def build_root(binds: str, covers: str, staging: str, keep_proc: bool) -> None:
    """Make `/` a fresh tmpfs holding only the interpreter's standard library and the libraries and device nodes it
    needs, read-only (done once, by the zygote, in a mount namespace of its own). The host's file system is
    detached: no data folder, cache, result or Unix socket of the host is reachable from any program after."""
    if ARCH is None:
        raise OSError(0, f"no pivot_root number known for {platform.machine()}")
    mount("evalkit-root", staging, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for line in binds.splitlines():  # `d` or `f`, a tab, the host path
        kind, path = line.split("\t", 1)
        _mountpoint(staging + path, kind == "d")
        mount(path, staging + path, None, MS_BIND | MS_REC)
    for path in covers.splitlines():  # folders inside those that are no standard library (site-packages)
        if os.path.isdir(staging + path):
            mount("evalkit-empty", staging + path, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,mode=0755")
    for path in (WORK, SHM, "/proc", "/.old"):
        os.makedirs(staging + path, exist_ok=True)
    if keep_proc:  # in a user namespace the kernel mounts a new /proc only where one is already visible
        mount("/proc", staging + "/proc", None, MS_BIND | MS_REC)  # each program's own /proc covers it
    _check(LIBC.syscall(ARCH[1], staging.encode(), (staging + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _check(LIBC.umount2(b"/.old", MNT_DETACH), "umount the host's root")
    os.rmdir("/.old")
    set_readonly("/", recursive=True)


def scratch_mounts(cfg: dict[str, str]) -> dict[str, str]:
    """Per program, in its own mount namespace: a size-limited tmpfs at /work and /dev/shm (no executables),
    a read-only /proc of the new PID namespace, and the IPC namespace's limits."""
    owner = cfg["uid"] or "0"
    scratch = MS_NOSUID | MS_NODEV | MS_NOEXEC
    mount("evalkit-work", WORK, "tmpfs", scratch, f"size={cfg['tmpfs']},mode=0700,uid={owner},gid={owner}")
    mount("evalkit-shm", SHM, "tmpfs", scratch, f"size={cfg['tmpfs']},mode=1777")
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    ipc = ipc_limits(int(cfg["tmpfs"]))
    set_readonly("/proc", recursive=False)  # in a user namespace the program's uid 0 could reset the IPC limits
    return {"root": "private", "readonly": "all but /work and /dev/shm", "private_proc": "1", "ipc_limits": ipc}


def ipc_limits(total_bytes: int) -> str:
    """System V shared memory and message queues of this IPC namespace, capped like the tmpfs (their memory is no process's)."""
    page = os.sysconf("SC_PAGE_SIZE")
    settings = {"kernel/shmmax": total_bytes, "kernel/shmall": total_bytes // page, "kernel/shmmni": 16,
                "kernel/msgmni": 16, "kernel/msgmnb": 1 << 16}
    try:
        for name, value in settings.items():
            with open(f"/proc/sys/{name}", "w") as fh:
                fh.write(str(value))
    except OSError as exc:
        return f"not set ({exc.strerror})"
    return f"shm {total_bytes} bytes, 16 segments; 16 message queues"


def drop_privileges(cfg: dict[str, str]) -> None:
    """The candidate gives up root: another uid (root harness) or every capability (user namespace)."""
    if cfg["uid"]:
        uid = int(cfg["uid"])
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    elif cfg["mode"] == "userns":
        # uid 0 of a user namespace: lock root out of regaining capabilities, then drop them all.
        LIBC.prctl(PR_SET_SECUREBITS, SECURE_ALL_BITS_LOCKED, 0, 0, 0)
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
        _check(LIBC.capset(header, (ctypes.c_uint32 * 6)()), "capset")
    _check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")  # no setuid binary lifts this


def set_limits(cfg: dict[str, str]) -> None:
    cpu = int(cfg["cpu"])
    for which, soft, hard in [
        (resource.RLIMIT_CPU, cpu, cpu + 1),  # SIGXCPU first, SIGKILL a second later
        (resource.RLIMIT_AS, int(cfg["memory"]), int(cfg["memory"])),
        (resource.RLIMIT_FSIZE, int(cfg["fsize"]), int(cfg["fsize"])),  # memfds too: each one is a file
        (resource.RLIMIT_NPROC, int(cfg["nproc"]), int(cfg["nproc"])),
        (resource.RLIMIT_NOFILE, int(cfg["nofile"]), int(cfg["nofile"])),
        (resource.RLIMIT_MSGQUEUE, 1 << 16, 1 << 16),
        (resource.RLIMIT_CORE, 0, 0),
    ]:
        resource.setrlimit(which, (soft, hard))


def fresh_keyring() -> None:
    """A new, empty session keyring: nothing an earlier program (or the harness) keeps is reachable from it."""
    if ARCH is None or LIBC.syscall(ARCH[2][2], KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        raise OSError(ctypes.get_errno(), "keyctl(KEYCTL_JOIN_SESSION_KEYRING)")


def deny_keyrings() -> None:
    """A seccomp filter: add_key, request_key and keyctl fail with EPERM, so no key outlives the program (a key
    in the per-uid user keyring would reach the next program of that uid and stay after the run); so do all
    syscalls of another ABI (x32, i386), which could name them by other numbers."""
    if ARCH is None:
        raise OSError(0, f"no syscall filter for {platform.machine()}")
    audit_arch, _, denied = ARCH
    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    errno_eperm, allow = 0x00050000 | 1, 0x7FFF0000
    n = len(denied)
    program = [
        (ld_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq, 0, n + 3, audit_arch),  # another ABI: deny
        (ld_abs, 0, 0, 0),  # seccomp_data.nr
        (jge, n + 1, 0, 0x40000000),  # x32 numbers: deny
        *[(jeq, n - i, 0, nr) for i, nr in enumerate(denied)],
        (ret, 0, 0, allow),
        (ret, 0, 0, errno_eperm),
    ]
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code)

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    _check(LIBC.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(Program(len(program), ctypes.addressof(buffer))),
                      0, 0), "prctl(PR_SET_SECCOMP)")


def confine_candidate(cfg: dict[str, str]) -> None:
    """The candidate's last trusted step: a fresh keyring, no privileges, no keyring syscalls, its limits.
    (On an architecture whose syscall numbers are not known here, no keyring step: the sandbox then has no
    root of its own either, and runs without namespaces.)"""
    if ARCH is not None:
        fresh_keyring()
    drop_privileges(cfg)
    if ARCH is not None:
        deny_keyrings()
    set_limits(cfg)
