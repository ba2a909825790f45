"""Where a Jaster dataset's files come from: --data-dir, or the published URL (downloaded once, then cached).

With a data folder nothing reaches the network: a missing file is an error that names it and says
where it is published. Without one, each file is fetched from its published URL into
$EVALKIT_JASTER_CACHE (default ~/.cache/evalkit/jaster), so a second run works offline.
"""

from __future__ import annotations

import hashlib
import random
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TypeVar

from evalkit.errors import EvalkitError
from evalkit.fingerprint import hash_file
from evalkit.paths import cache_path
from evalkit.tasks.jaster.catalog import Source

CACHE_ENV = "EVALKIT_JASTER_CACHE"
DOWNLOAD_TIMEOUT_S = 60
T = TypeVar("T")


def default_cache_dir() -> Path:
    return cache_path(CACHE_ENV, "jaster")


def fetch_url(url: str, dest: Path) -> None:
    """Download `url` to `dest` atomically (a partial download never looks like a file)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": "evalkit"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, partial.open("wb") as fh:
        while block := response.read(1 << 20):
            fh.write(block)
    partial.replace(dest)


@dataclass
class DatasetFiles:
    """The files of one dataset, with a sha256 of every file actually read (the run.json fingerprint)."""

    dataset: str
    source: Source
    data_dir: Path | None
    cache_dir: Path = field(default_factory=default_cache_dir)
    # How many test and few-shot examples will be used (None: all); a loader may stop reading there.
    max_test: int | None = None
    max_fewshot: int | None = None
    read: dict[str, str] = field(default_factory=dict)
    downloaded: list[str] = field(default_factory=list)

    @property
    def offline(self) -> bool:
        """A data folder was given: read it, never the network."""
        return self.data_dir is not None

    @property
    def folder(self) -> Path:
        return (self.data_dir if self.data_dir is not None else self.cache_dir) / self.source.folder

    def present(self) -> bool:
        """Whether this dataset's folder exists in the data folder (always true online)."""
        return not self.offline or self.folder.is_dir()

    def path(self, name: str, url: str | None = None) -> Path:
        """The file `name` of this dataset; a one-line error saying what is missing and where it is published."""
        path = self.folder / name
        url = url or self.source.file(name).url
        if not path.is_file():
            if self.offline:
                where = f"; it is published at {url}" if url else ""
                raise EvalkitError(f"jaster:{self.dataset}: missing data file {path}{where}")
            if url is None:
                raise EvalkitError(f"jaster:{self.dataset}: {name} has no published URL; pass --data-dir holding {path}")
            self._download(url, path)
        self.read[f"{self.source.folder}/{name}"] = hash_file(path)
        return path

    def optional(self, name: str) -> Path | None:
        """The file `name` when it is in the data folder (or, online, when it can be fetched); else None."""
        entry = self.source.file(name)
        if (self.folder / name).is_file() or (not self.offline and entry.url):
            try:
                return self.path(name)
            except EvalkitError:
                if self.offline:
                    raise
                return None
        return None

    def _download(self, url: str, dest: Path) -> None:
        try:
            fetch_url(url, dest)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise EvalkitError(
                f"jaster:{self.dataset}: could not download {url} ({reason}); offline, pass --data-dir "
                f"with {self.source.folder}/{dest.name} in it"
            ) from None
        self.downloaded.append(url)

    def fingerprint(self) -> str:
        """One sha256 over the names and hashes of every file read."""
        digest = hashlib.sha256()
        for name, sha in sorted(self.read.items()):
            digest.update(f"{name}\0{sha}\n".encode())
        return digest.hexdigest()


def seeded_shuffle(items: Sequence[T], seed: int = 42) -> list[T]:
    """llm-jp-eval's `random.seed(42); random.shuffle(rows)`, without touching the global generator."""
    rows = list(items)
    random.Random(seed).shuffle(rows)
    return rows


def split_train_dev(rows: Sequence[T], train_share: float = 0.9) -> tuple[list[T], list[T]]:
    """Shuffle with seed 42, then the first `train_share` is train and the rest dev (llm-jp-eval's 90/10)."""
    shuffled = seeded_shuffle(rows)
    cut = int(len(shuffled) * train_share)
    return shuffled[:cut], shuffled[cut:]
