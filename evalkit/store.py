"""Run folders, the one reader and writer: run.json (written first), samples.jsonl (streamed), summary.csv.

`RunResult.read` is the reader every command uses (score, import, export, report, gate): it never
writes. `RunStore` is the writer a run or a re-score holds: it appends records as they arrive
(flushed, so a `kill -9` loses nothing whole), cuts a line a crash left half-written, and updates
run.json atomically. A folder written by an older evalkit is read as it is; the first write to it
upgrades both files in place (`upgraded_from` in run.json says so). A folder has one writer at a
time: a RunStore holds an OS lock on RUN_DIR/.lock (FolderLock) until it is released or its
process ends, however it ends; readers take no lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterable

from pydantic import ValidationError

from evalkit.errors import EvalkitError
from evalkit.manifest import LEGACY_FORMATS, RUN_FORMAT, RunManifest, TaskInfo, now_iso, upgrade_v1_manifest
from evalkit.records import SampleRecord, parse_record
from evalkit.spec import RunSpec
from evalkit.text_safety import escaped, repaired_value

if TYPE_CHECKING:
    import pandas as pd

MANIFEST = "run.json"
SAMPLES = "samples.jsonl"
SUMMARY = "summary.csv"
LOCK = ".lock"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file, then rename: a reader never sees half a run.json."""
    tmp = path.with_name(path.name + ".tmp")
    # a lone surrogate (text that is not valid Unicode) as its JSON escape: the file stays UTF-8
    tmp.write_text(escaped(json.dumps(data, indent=2, ensure_ascii=False)) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def source_git_sha() -> str | None:
    """The commit of the evalkit source tree this runs from, when it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def read_manifest(run_dir: Path) -> tuple[RunManifest, bool]:
    """run.json, typed, and whether the folder is in a legacy format; one-line errors otherwise."""
    path = run_dir / MANIFEST
    try:
        if not run_dir.exists():
            raise EvalkitError(f"{run_dir} does not exist")
        if not run_dir.is_dir():
            raise EvalkitError(f"{run_dir} is not a folder")
        if not path.is_file():
            raise EvalkitError(f"{run_dir} is not an evalkit run: it has no {MANIFEST}")
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalkitError(f"{path} is corrupt: {exc}") from None
    except OSError as exc:  # a name too long, a folder this user may not read
        raise EvalkitError(f"cannot read the run {run_dir}: {exc.strerror}") from None
    if "\\ud" in text.lower():  # maybe a lone surrogate's escape: repaired, as in a record (evalkit.text_safety)
        data = repaired_value(data)
    found = data.get("format") if isinstance(data, dict) else None
    if not isinstance(found, str) or not found.startswith("evalkit-run/"):
        raise EvalkitError(f"{path} is not an evalkit run manifest (format {RUN_FORMAT!r} expected)")
    legacy = found in LEGACY_FORMATS
    if not legacy and found != RUN_FORMAT:
        raise EvalkitError(f"{path} was written by a newer evalkit (format {found!r}; this one reads {RUN_FORMAT!r} "
                           f"and {', '.join(map(repr, LEGACY_FORMATS))}): upgrade evalkit to read it")
    try:
        return RunManifest.model_validate(upgrade_v1_manifest(data) if legacy else data), legacy
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise EvalkitError(f"{path} is not a run manifest evalkit can read ({field}: {first['msg']})") from None


def _task_changes(before: TaskInfo, now: TaskInfo) -> list[str]:
    out = []
    if before.version != now.version:
        out.append(f"version {before.version} -> {now.version}")
    if before.data != now.data:
        keys = sorted(k for k in before.data.keys() | now.data.keys() if before.data.get(k) != now.data.get(k))
        out.append(f"data ({', '.join(keys)})")
    return out


def _read_records(path: Path, legacy: bool) -> tuple[list[SampleRecord], int]:
    """Every record, the last line per (task, sample_id, choice) winning, and the length of a final
    line a crash cut short (0 when there is none). A bad line anywhere else is an error."""
    if not path.exists():
        return [], 0
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalkitError(f"cannot read {path}: {exc.strerror}") from None
    lines = raw.split(b"\n")
    complete, tail = lines[:-1], lines[-1]  # tail is b"" when the file ends with a newline
    by_key: dict[tuple[str, str, int], SampleRecord] = {}
    for lineno, line in enumerate(complete, 1):
        if line.strip():
            record = parse_record(line, f"{path}:{lineno}", legacy)
            by_key[record.key] = record
    return list(by_key.values()), len(tail) if tail.strip() else 0


@dataclass(frozen=True)
class RunResult:
    """A run folder as evalkit reads it: the manifest, and the last record of every sample."""

    dir: Path
    manifest: RunManifest
    records: tuple[SampleRecord, ...]

    @classmethod
    def read(cls, run_dir: Path) -> "RunResult":
        manifest, legacy = read_manifest(run_dir)
        records, _ = _read_records(run_dir / SAMPLES, legacy)
        return cls(run_dir, manifest, tuple(records))

    def summary(self) -> "pd.DataFrame":
        """The summary rows (task, genre, metric, value, n) the run ended with; empty before it ended."""
        import pandas as pd

        from evalkit.summary import COLUMNS

        rows = [row.model_dump() for row in self.manifest.summary or []]
        return pd.DataFrame(rows, columns=COLUMNS)


class FolderLock:
    """This process's claim to write one run folder: flock on RUN_DIR/.lock, which names its pid. The
    OS drops it when the process ends, however it ends (kill -9 too), so no crash leaves a folder locked."""

    def __init__(self, run_dir: Path, handle: IO[str] | None) -> None:
        self.dir = run_dir
        self._handle = handle

    @classmethod
    def take(cls, run_dir: Path) -> "FolderLock":
        """The lock of `run_dir` (an existing folder); a one-line error when another process holds it."""
        try:
            handle = (run_dir / LOCK).open("a+", encoding="utf-8")
        except OSError as exc:
            raise EvalkitError(f"cannot write in the run folder {run_dir}: {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()[:20]
            handle.close()
            raise EvalkitError(f"{run_dir} is being written by another evalkit process"
                               f"{f' (pid {holder})' if holder else ''}: wait for it to end or stop it, then run "
                               "this command again; or write elsewhere (another --run-name, --into)") from None
        except OSError:  # a file system without flock: write unguarded rather than not at all
            return cls(run_dir, handle)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return cls(run_dir, handle)

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing the file drops the lock
            self._handle = None

    def __del__(self) -> None:
        self.release()


def holds_a_run(run_dir: Path) -> bool:
    """Whether `run_dir` has anything in it besides a lock file."""
    return any(path.name != LOCK for path in run_dir.iterdir())


class RunStore:
    """The writer of one run folder; it holds the folder's lock until `release`."""

    def __init__(self, run_dir: Path, manifest: RunManifest, lock: FolderLock | None = None) -> None:
        self.dir = run_dir
        self.manifest = manifest
        self.manifest_path = run_dir / MANIFEST
        self.samples_path = run_dir / SAMPLES
        self.summary_path = run_dir / SUMMARY
        self._samples_fh: Any = None
        self._lock = lock

    @classmethod
    def create(cls, run_dir: Path, manifest: RunManifest) -> "RunStore":
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EvalkitError(f"cannot create the run folder {run_dir}: {exc.strerror}") from None
        lock = FolderLock.take(run_dir)
        if (run_dir / MANIFEST).exists():  # another process made this run since this one looked
            lock.release()
            raise EvalkitError(f"{run_dir} holds a run another process started meanwhile; run this command again "
                               "to resume it, or choose another --run-name")
        store = cls(run_dir, manifest, lock)
        store._write_manifest()
        return store

    @classmethod
    def open(cls, run_dir: Path, lock: FolderLock | None = None) -> "RunStore":
        """An existing run, to write into (with `lock` when the caller holds it already); a folder in a
        legacy format is upgraded in place first."""
        read_manifest(run_dir)  # an evalkit run, before a lock file is made in it
        lock = lock or FolderLock.take(run_dir)
        try:
            manifest, legacy = read_manifest(run_dir)  # as the last writer left it
            store = cls(run_dir, manifest, lock)
            if legacy:
                # Records first: an upgraded line reads the same through either reader, so a kill
                # between the two writes leaves a folder that still reads.
                store.rewrite(_read_records(store.samples_path, legacy=True)[0])
                store._write_manifest()
        except BaseException:
            lock.release()
            raise
        return store

    @classmethod
    def reopen(cls, run_dir: Path, spec: RunSpec, resume: bool) -> "RunStore | None":
        """The existing run in `run_dir` when it was started with `spec` (re-running a command resumes
        it), None for a new or empty folder; a one-line error for anything else. Checked before any
        data is read, so a changed command fails at once."""
        try:
            started = (run_dir / MANIFEST).exists()
            occupied = run_dir.exists() and holds_a_run(run_dir)
        except OSError as exc:  # a name longer than the file system takes, a folder this user may not read
            raise EvalkitError(f"cannot use the run folder {run_dir}: {exc.strerror}") from None
        if started:
            store = cls.open(run_dir)
            changed = store.manifest.spec.differences(spec)
            if changed:
                store.release()
                raise EvalkitError(f"{run_dir} holds a run with different settings ({'; '.join(changed)}); "
                                   "choose another --run-name, or --resume it as it was")
            return store
        if resume:
            raise EvalkitError(f"{run_dir} is not an evalkit run: it has no {MANIFEST}")
        if occupied:
            raise EvalkitError(f"{run_dir} exists and is not an evalkit run; choose another --run-name")
        return None

    def resume(self, manifest: RunManifest) -> None:
        """Continue with `manifest` (this invocation's): refused when a task's version or data changed
        since the run started, because its stored answers would then belong to other samples."""
        changed = [f"{name} {what}" for name, info in manifest.tasks.items() if name in self.manifest.tasks
                   for what in _task_changes(self.manifest.tasks[name], info)]
        if changed:
            raise EvalkitError(f"{self.dir} holds a run whose tasks changed since it started ({'; '.join(changed)}); "
                               "choose another --run-name to run them again")
        # The operational settings (concurrency, retries, --max-error-rate) are this invocation's.
        self.update(status="running", resumed_at=now_iso(), spec=manifest.spec)

    # -- manifest --------------------------------------------------------------------------

    def update(self, **fields: Any) -> RunManifest:
        """Set manifest fields (validated) and write run.json atomically."""
        self.manifest = RunManifest.model_validate({**self.manifest.model_dump(), **fields})
        self._write_manifest()
        return self.manifest

    def _write_manifest(self) -> None:
        write_json_atomic(self.manifest_path, self.manifest.model_dump(mode="json"))

    # -- samples ---------------------------------------------------------------------------

    def records(self) -> list[SampleRecord]:
        """Every stored record, the last one per sample and choice winning; a final line a crash cut
        short is dropped, and cut from the file before anything is appended."""
        records, torn = _read_records(self.samples_path, legacy=False)
        if torn:
            self.close()
            with self.samples_path.open("r+b") as fh:
                fh.truncate(self.samples_path.stat().st_size - torn)
        return records

    def append(self, record: SampleRecord) -> None:
        if self._samples_fh is None:
            self._samples_fh = self.samples_path.open("a", encoding="utf-8")
        self._samples_fh.write(record.to_line())
        self._samples_fh.flush()  # on disk for any later reader, even if this process is killed

    def rewrite(self, records: Iterable[SampleRecord]) -> None:
        self.close()
        tmp = self.samples_path.with_name(SAMPLES + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(record.to_line())
        os.replace(tmp, self.samples_path)

    def write_summary(self, summary: "pd.DataFrame") -> None:
        summary.to_csv(self.summary_path, index=False)

    def close(self) -> None:
        if self._samples_fh is not None:
            self._samples_fh.close()
            self._samples_fh = None

    def release(self) -> None:
        """Close the files and let another process write the folder."""
        self.close()
        if self._lock is not None:
            self._lock.release()
