"""Finding and preparing cgroups for sandboxed programs, on fake cgroup folders (the kernel's are the hostile suite's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evalkit.sandbox_cgroup import Cgroups, hierarchies, make_v1, make_v2, own_cgroups

V1_CGROUP = "9:name=systemd:/\n8:pids:/\n4:memory:/jobs/abc\n1:cpu,cpuacct:/\n0::/\n"
V2_CGROUP = "0::/user.slice/session-1.scope\n"
MOUNTINFO = (
    "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    "30 25 0:26 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory\n"
    "31 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "33 25 0:29 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
)


@pytest.mark.parametrize("text, expected", [
    (V1_CGROUP, {"name=systemd": "/", "pids": "/", "memory": "/jobs/abc", "cpu": "/", "cpuacct": "/", "": "/"}),
    (V2_CGROUP, {"": "/user.slice/session-1.scope"}),
    ("", {}),
])
def test_own_cgroups_per_controller(text, expected):
    assert own_cgroups(text) == expected


def test_hierarchies_per_controller():
    assert hierarchies(MOUNTINFO) == {"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids",
                                      "": "/sys/fs/cgroup/unified"}


def fake_v2(root: Path, controllers: str):
    """Our cgroup folder, and a Path.mkdir that fills new folders as the kernel does, offering `controllers`."""
    own = root / "user.slice"
    own.mkdir(parents=True)
    original_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):  # the kernel fills a new cgroup folder with its files
        original_mkdir(self, *args, **kwargs)
        for name in ("cgroup.controllers", "cgroup.subtree_control", "cgroup.procs", "memory.events"):
            (self / name).touch()
        (self / "cgroup.controllers").write_text(controllers)

    return own, mkdir


def test_v2_is_used_where_memory_and_pids_can_be_delegated(tmp_path, monkeypatch):
    own, mkdir = fake_v2(tmp_path, "cpu memory pids")
    monkeypatch.setattr(Path, "mkdir", mkdir)
    cgroups = make_v2({"": "/user.slice"}, {"": str(tmp_path)})
    assert cgroups == Cgroups("v2", own / f"evalkit-{os.getpid()}", own / f"evalkit-{os.getpid()}")
    assert (cgroups.memory / "cgroup.subtree_control").read_text() == "+memory +pids"
    procs = cgroups.slot(3, 1024**3, 10)
    assert procs == [str(cgroups.memory / "s3" / "cgroup.procs")]
    assert (cgroups.memory / "s3" / "memory.max").read_text() == str(1024**3)
    assert (cgroups.memory / "s3" / "pids.max").read_text() == "14"  # the runner and the referee besides


def test_v2_without_the_controllers_is_not_used_and_leaves_nothing(tmp_path, monkeypatch):
    own, mkdir = fake_v2(tmp_path, "cpu io")
    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr("evalkit.sandbox_cgroup._remove_tree", lambda base: __import__("shutil").rmtree(base))
    assert make_v2({"": "/user.slice"}, {"": str(tmp_path)}) is None
    assert list(own.iterdir()) == []


def test_v1_uses_the_memory_and_pids_hierarchies_and_clears_those_of_gone_processes(tmp_path):
    (tmp_path / "memory" / "jobs" / "abc").mkdir(parents=True)
    (tmp_path / "pids").mkdir()
    stale = tmp_path / "pids" / "evalkit-999999999"  # a harness process that no longer exists
    (stale / "s0").mkdir(parents=True)
    cgroups = make_v1({"memory": "/jobs/abc", "pids": "/"},
                      {"memory": str(tmp_path / "memory"), "pids": str(tmp_path / "pids")})
    assert cgroups.version == "v1" and cgroups.memory.parent == tmp_path / "memory" / "jobs" / "abc"
    assert not stale.exists()
    procs = cgroups.slot(0, 2048, 5)
    assert procs == sorted([str(cgroups.memory / "s0" / "cgroup.procs"), str(cgroups.pids / "s0" / "cgroup.procs")])
    assert (cgroups.memory / "s0" / "memory.limit_in_bytes").read_text() == "2048"
    assert (cgroups.pids / "s0" / "pids.max").read_text() == "9"
    (cgroups.memory / "s0" / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert cgroups.oom_kills(0) == 2 and cgroups.oom_kills(1) == 0
    assert make_v1({"memory": "/jobs/abc"}, {"memory": str(tmp_path / "memory")}) is None  # no pids hierarchy
