"""What is in a model file: a content hash, recomputed only when the file's size or modification time changes.

A path names a place, not weights: a training loop overwrites `latest.gguf` and the same path then
holds another model. The cache identity of a local model is therefore the hash of its contents.
Hashing 250 MB takes about a second and 8 GB half a minute, so the hash is remembered per
(path, size, mtime, inode) in a small JSON file beside the request cache; an unchanged file is
not read again, a rewritten one is (unless rewritten with the same size within one tick of the
file system's clock, a few milliseconds, which no save of a checkpoint is).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from evalkit.paths import cache_path

FINGERPRINTS_ENV = "EVALKIT_FINGERPRINTS"


def default_fingerprints_path() -> Path:
    return cache_path(FINGERPRINTS_ENV, "fingerprints.json")


def _stat_key(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"


def hash_file(path: Path) -> str:
    """The sha256 of a file's contents, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remembered_sha256(path: Path, memo: Path | None = None) -> str:
    """The sha256 of `path`'s contents, from the memo file when the file is unchanged since it was hashed."""
    memo = memo or default_fingerprints_path()
    key = _stat_key(path)
    known = _read_memo(memo)
    if isinstance(known.get(key), str):
        return known[key]
    digest = hash_file(path)
    if _stat_key(path) == key:  # not rewritten while it was read: safe to remember
        known = {k: v for k, v in _read_memo(memo).items() if not k.startswith(f"{path.resolve()}|")}
        known[key] = digest
        _write_memo(memo, known)
    return digest


def _read_memo(memo: Path) -> dict[str, Any]:
    try:
        data = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent or damaged: every hash is simply computed again
        return {}
    return data if isinstance(data, dict) else {}


def _write_memo(memo: Path, known: dict[str, Any]) -> None:
    """Written whole to a temporary file and renamed over the memo, so a reader never sees half of it;
    a memo that cannot be written costs only the next run's hashing."""
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        partial = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(known, indent=0, sort_keys=True), encoding="utf-8")
        partial.replace(memo)
    except OSError:
        pass


# What in a Hugging Face checkpoint folder decides its answers: the weights, the configuration, the tokenizer.
CHECKPOINT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.gguf", "*.json", "*.model", "*.tiktoken", "*.txt", "*.jinja")


def checkpoint_sha256(target: str, memo: Path | None = None) -> str | None:
    """A content hash of the local checkpoint `target` names (a folder or one file), or None when it is
    not on this disk (a Hub id: its files are not ours to read). Each file is hashed through the memo,
    so an unchanged checkpoint costs a stat per file; an overwritten one is a new hash."""
    path = Path(target).expanduser()
    if path.is_file():
        return remembered_sha256(path, memo)
    if not path.is_dir():
        return None
    files = sorted({f for pattern in CHECKPOINT_FILES for f in path.glob(pattern) if f.is_file()})
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}\0{remembered_sha256(file, memo)}\n".encode())
    return digest.hexdigest()
