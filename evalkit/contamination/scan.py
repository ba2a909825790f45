"""Scanning a corpus against the benchmark index: one pure function per shard, run on all cores or on a Dask cluster.

`scan_shard` reads its shard in batches of about a million characters, cuts each batch into the
index's ids in one go (`coder.UnitCoder`; MeCab and lm-eval's tokenizer cut document by document),
hashes every window of n ids with numpy, and keeps the windows whose hash the index has. Each
document with such a window is then cut again, exactly, and its windows compared id by id with the
segments' own: a verdict never rests on a hash. Memory is the index plus one batch, whatever the
corpus size. `scan` runs the shards in a process pool (every core by default), or, given a
scheduler address or `dask`, on Dask's distributed scheduler.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from evalkit.contamination.coder import UNKNOWN, UnitCoder, window_hashes
from evalkit.contamination.corpus import Shard, batches
from evalkit.contamination.index import BenchmarkIndex
from evalkit.contamination.text import tokenizer

BATCH_CHARS = 1 << 20


@dataclass
class Hits:
    """What a shard (or the whole scan) found: per segment the matched n-gram positions and the first place."""

    bytes_read: int = 0
    documents: int = 0
    positions: dict[int, set[int]] = field(default_factory=dict)
    first: dict[int, tuple[str, str]] = field(default_factory=dict)  # segment -> (where, the n-gram)

    def merge(self, other: "Hits") -> None:
        self.bytes_read += other.bytes_read
        self.documents += other.documents
        for segment, found in other.positions.items():
            self.positions.setdefault(segment, set()).update(found)
        for segment, place in other.first.items():
            self.first.setdefault(segment, place)


_MIX = np.uint64(0x9E3779B97F4A7C15)


class _Filter:
    """A byte per bucket of mixed hash bits, set where the index has a window: one random read per corpus
    window rules out almost all of them before the binary search in the sorted hashes."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.bits = int(min(26, max(16, np.ceil(np.log2(max(len(hashes), 1) * 16)))))
        self.table = np.zeros(1 << self.bits, dtype=np.bool_)
        self.table[self._bucket(hashes)] = True

    def _bucket(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((values * _MIX) >> np.uint64(64 - self.bits)).astype(np.int64)

    def maybe(self, values: np.ndarray) -> np.ndarray:
        return self.table[self._bucket(values)]


class _Cutter:
    """Documents to ids: in batches for the units tokenizer, one by one otherwise; and exactly, one document."""

    def __init__(self, index: BenchmarkIndex) -> None:
        self.vocab = index.vocab
        self.split = tokenizer(index.tokenizer).split
        self.coder = UnitCoder(index.vocab) if index.tokenizer == "units" else None
        self.filters = {n: _Filter(index.grams[n].hashes) for n in index.ngram_sizes()}

    def batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if self.coder is not None:
            return self.coder.encode(texts)
        ids: list[int] = []
        starts = []
        for text in texts:
            starts.append(len(ids))
            ids.extend(self.exact(text).tolist())
            ids.append(UNKNOWN)
        return np.array(ids, dtype=np.int64), np.array(starts, dtype=np.int64)

    def exact(self, text: str) -> np.ndarray:
        get = self.vocab.get
        return np.array([get(unit, UNKNOWN) for unit in self.split(text)], dtype=np.int64)


def scan_shard(index: BenchmarkIndex, shard: Shard) -> Hits:
    hits = Hits(bytes_read=shard.size)
    cutter = _Cutter(index)
    for texts, places in batches(shard, BATCH_CHARS):
        hits.documents += len(texts)
        ids, starts = cutter.batch(texts)
        for document in _candidates(index, cutter.filters, ids, starts):
            _confirm(index, cutter.exact(texts[document]), places[document], hits)
    return hits


def _windows(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(position, hash) of every window of n ids that holds no UNKNOWN."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    unknown = np.concatenate(([0], np.cumsum(ids == UNKNOWN)))
    valid = np.flatnonzero(unknown[n:n + count] == unknown[:count])
    return valid, window_hashes(np.where(ids == UNKNOWN, 0, ids), n)[valid]


def _candidates(index: BenchmarkIndex, filters: dict[int, _Filter], ids: np.ndarray, starts: np.ndarray) -> list[int]:
    """The documents of the batch with a window whose hash is one of the index's."""
    found: set[int] = set()
    for n in index.ngram_sizes():
        positions, values = _windows(ids, n)
        maybe = filters[n].maybe(values)
        positions, values = positions[maybe], values[maybe]
        matched = positions[index.grams[n].has(values)]
        found.update((np.searchsorted(starts, matched, side="right") - 1).tolist())
    return sorted(found)


def _confirm(index: BenchmarkIndex, ids: np.ndarray, where: str, hits: Hits) -> None:
    """Record the document's windows that are, id for id, windows of a segment."""
    for n in index.ngram_sizes():
        grams = index.grams[n]
        positions, values = _windows(ids, n)
        known = grams.has(values)
        for position, value in zip(positions[known].tolist(), values[known].tolist()):
            window = ids[position:position + n]
            for segment, at in grams.owners(value):
                if np.array_equal(index.ids[segment][at:at + n], window):
                    hits.positions.setdefault(segment, set()).add(at)
                    hits.first.setdefault(segment, (where, index.unit_text(window.tolist())[:200]))


_WORKER_INDEX: BenchmarkIndex | None = None


def _init(index: BenchmarkIndex) -> None:
    global _WORKER_INDEX
    _WORKER_INDEX = index
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the pool


def _scan_in_worker(job: tuple[int, Shard]) -> tuple[int, Hits]:
    assert _WORKER_INDEX is not None
    return job[0], scan_shard(_WORKER_INDEX, job[1])


def scan(index: BenchmarkIndex, shards: Sequence[Shard], workers: int | None = None, engine: str = "processes",
         progress: Callable[[int, int, int], None] | None = None) -> Hits:
    """Every shard scanned and the hits merged in shard order (so `first` is the first place in the corpus).

    engine: "processes" (a local pool of `workers`, default every core), "dask" (a local Dask cluster),
    or a Dask scheduler address ("tcp://host:8786"). `progress(bytes done, bytes in all, documents)`."""
    total = sum(s.size for s in shards)
    results: dict[int, Hits] = {}
    done_bytes = done_docs = 0

    def finished(i: int, found: Hits) -> None:
        nonlocal done_bytes, done_docs
        results[i] = found
        done_bytes += shards[i].size
        done_docs += found.documents
        if progress:
            progress(done_bytes, total, done_docs)

    if engine == "processes":
        workers = workers or os.cpu_count() or 1
        if workers == 1 or len(shards) == 1:
            for i, shard in enumerate(shards):
                finished(i, scan_shard(index, shard))
        else:
            # A pool that is left by an exception (a bad line, Ctrl-C) terminates its workers at once.
            with multiprocessing.Pool(min(workers, len(shards)), initializer=_init, initargs=(index,)) as pool:
                for i, found in pool.imap_unordered(_scan_in_worker, enumerate(shards)):
                    finished(i, found)
    else:
        for i, found in _on_dask(index, shards, engine, workers):
            finished(i, found)
    merged = Hits()
    for i in range(len(shards)):
        merged.merge(results[i])
    return merged


def _on_dask(index: BenchmarkIndex, shards: Sequence[Shard], engine: str, workers: int | None) -> Iterable[tuple[int, Hits]]:
    """The same shard function on Dask: the index sent once to every worker, the shards as tasks."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError:
        from evalkit.errors import EvalkitError

        raise EvalkitError(f"--engine {engine} needs Dask: pip install 'evalkit[contamination]'") from None
    from evalkit.errors import EvalkitError

    if engine != "dask" and "://" not in engine:
        raise EvalkitError(f"--engine {engine}: processes, dask, or a Dask scheduler address such as tcp://host:8786")
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                           dashboard_address=None) if engine == "dask" else None
    try:
        client = Client(cluster if cluster is not None else engine, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise EvalkitError(f"--engine {engine}: no Dask scheduler answered ({exc})") from None
    try:
        shared = client.scatter(index, broadcast=True)
        futures = client.map(scan_shard, [shared] * len(shards), shards, pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        for future in dask_completed(futures):
            yield position[future.key], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
