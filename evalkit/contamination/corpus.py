"""Reading a training corpus of any size as shards of documents: JSON lines, plain text, Parquet; gzip or zstd; folders, globs, a Hub dataset.

A shard is a piece one worker reads on its own: a byte range of an uncompressed text or JSON-lines
file (cut at line ends, so that large files split across workers), a whole compressed file, a
Parquet row group, or a Hub dataset streamed in one piece. Documents are lines (plain text) or a
JSON object's text field (JSON lines, Parquet); each comes with where it is: file and byte offset
(of the line, in the decompressed stream for compressed files) or row.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from evalkit.errors import EvalkitError

SHARD_BYTES = 64 * 1024 * 1024  # an uncompressed file is split into pieces of about this size
TEXT_SUFFIXES = (".jsonl", ".json", ".ndjson", ".txt", ".text", ".md", ".parquet")
COMPRESSIONS = (".gz", ".zst", ".zstd")


@dataclass(frozen=True)
class Shard:
    source: str  # a file path, or "hf:<dataset>"
    kind: str  # "jsonl" | "text" | "parquet" | "hf"
    compression: str  # "" | "gz" | "zst"
    start: int = 0  # byte range (uncompressed plain files), or row group (parquet)
    end: int = -1
    field: str = "text"
    size: int = 0  # bytes this shard covers, for progress


def shards(corpora: Sequence[str], field: str = "text", shard_bytes: int = SHARD_BYTES) -> list[Shard]:
    """Every shard of the corpora (files, folders, globs, hf:<dataset>[:<config>]:<split>); an error
    names a path that holds no readable file."""
    out: list[Shard] = []
    for spec in corpora:
        if spec.startswith("hf:"):
            out.append(Shard(spec, "hf", "", field=field))
            continue
        files = _files(spec)
        if not files:
            raise EvalkitError(f"--corpus {spec}: no .jsonl, .txt or .parquet file (plain, .gz or .zst) there")
        for path in files:
            out += _file_shards(path, field, shard_bytes)
    return out


def _files(spec: str) -> list[Path]:
    path = Path(spec)
    if path.is_dir():
        candidates = sorted(p for p in path.rglob("*") if p.is_file())
    elif any(ch in spec for ch in "*?["):
        candidates = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    elif path.is_file():
        return [path]
    else:
        raise EvalkitError(f"--corpus {spec} does not exist")
    return [p for p in candidates if _kind(p) is not None]


def _kind(path: Path) -> tuple[str, str] | None:
    suffixes = [s.lower() for s in path.suffixes]
    compression = ""
    if suffixes and suffixes[-1] in COMPRESSIONS:
        compression = "gz" if suffixes[-1] == ".gz" else "zst"
        suffixes = suffixes[:-1]
    if not suffixes:
        return None
    if suffixes[-1] in (".jsonl", ".json", ".ndjson"):
        return "jsonl", compression
    if suffixes[-1] in (".txt", ".text", ".md"):
        return "text", compression
    if suffixes[-1] == ".parquet" and not compression:
        return "parquet", ""
    return None


def _file_shards(path: Path, field: str, shard_bytes: int) -> list[Shard]:
    kind, compression = _kind(path) or ("text", "")
    size = path.stat().st_size
    if kind == "parquet":
        import pyarrow.parquet as pq

        groups = pq.ParquetFile(path).num_row_groups
        return [Shard(str(path), kind, "", g, g + 1, field, size // max(1, groups)) for g in range(groups)]
    if compression or size <= shard_bytes:
        return [Shard(str(path), kind, compression, 0, -1, field, size)]
    return [Shard(str(path), kind, "", start, min(size, start + shard_bytes), field, min(size, start + shard_bytes) - start)
            for start in range(0, size, shard_bytes)]


def batches(shard: Shard, chars: int = 1 << 20) -> Iterator[tuple[list[str], list[str]]]:
    """The shard's documents in batches of about `chars` characters: (texts, wheres)."""
    if shard.kind in ("hf", "parquet"):
        texts: list[str] = []
        places: list[str] = []
        size = 0
        for text, where in (_hub(shard) if shard.kind == "hf" else _parquet(shard)):
            texts.append(text)
            places.append(where)
            size += len(text)
            if size >= chars:
                yield texts, places
                texts, places, size = [], [], 0
        if texts:
            yield texts, places
        return
    lines: list[str] = []
    offsets: list[int] = []
    size = 0
    for offset, block in _line_blocks(shard):
        for raw in block:
            if raw.strip():
                line = raw.decode("utf-8", errors="replace")
                lines.append(line)
                offsets.append(offset)
                size += len(line)
                if size >= chars:
                    yield _documents_of(shard, lines, offsets)
                    lines, offsets, size = [], [], 0
            offset += len(raw)
    if lines:
        yield _documents_of(shard, lines, offsets)


def _documents_of(shard: Shard, lines: list[str], offsets: list[int]) -> tuple[list[str], list[str]]:
    places = [f"{shard.source}:{offset}" for offset in offsets]
    if shard.kind != "jsonl":
        return lines, places
    try:
        rows = json.loads("[" + ",".join(lines) + "]")  # one call for the batch: twice as fast as one per line
    except json.JSONDecodeError:
        rows = None
    if rows is None or len(rows) != len(lines):
        rows = [_json_row(line, shard, offset) for line, offset in zip(lines, offsets)]  # names the bad line
    texts = []
    for row, offset in zip(rows, offsets):
        value = row.get(shard.field) if isinstance(row, dict) else None
        if value is None:
            raise EvalkitError(f"{shard.source}: the line at byte {offset} has no {shard.field!r} field (--text-field)")
        texts.append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return texts, places


BLOCK_BYTES = 4 << 20


def _line_blocks(shard: Shard) -> Iterator[tuple[int, list[bytes]]]:
    """(byte offset of the first, whole lines) of the shard, read in blocks. A byte range starts after
    the first line end at or after its start (the line before belongs to the previous shard) and ends
    with the line that crosses its end."""
    if shard.compression:
        source = _decompressed(Path(shard.source), shard.compression)
        offset, end = 0, None
    else:
        source = open(shard.source, "rb")
        offset = shard.start
        if offset:
            source.seek(offset - 1)
            if source.read(1) != b"\n":
                offset += len(source.readline())
        end = shard.end if shard.end >= 0 else os.path.getsize(shard.source)
    with source:
        carry = b""
        position = offset
        while end is None or position < end:
            block = source.read(BLOCK_BYTES if end is None else min(BLOCK_BYTES, end - position))
            if not block:
                break
            position += len(block)
            if end is not None and position >= end and not block.endswith(b"\n"):
                block += source.readline()  # the line that crosses the end is this shard's
            data = carry + block
            cut = data.rfind(b"\n") + 1
            carry = data[cut:]
            if cut:
                yield offset, [part + b"\n" for part in data[:cut - 1].split(b"\n")]
                offset += cut
        if carry:
            yield offset, [carry]


def _decompressed(path: Path, compression: str):
    if compression == "gz":
        return gzip.open(path, "rb")
    try:
        import zstandard
    except ImportError:
        raise EvalkitError(f"{path}: reading zstd needs zstandard: pip install 'evalkit[contamination]'") from None
    return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb")))


def _json_row(line: str, shard: Shard, offset: int):
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        raise EvalkitError(f"{shard.source}: the line at byte {offset} is not JSON") from None


def _parquet(shard: Shard) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(shard.source).read_row_group(shard.start, columns=[shard.field])
    first = sum(pq.ParquetFile(shard.source).metadata.row_group(g).num_rows for g in range(shard.start))
    for row, text in enumerate(table.column(0).to_pylist()):
        if text:
            yield str(text), f"{shard.source}#row{first + row}"


def _hub(shard: Shard) -> Iterator[tuple[str, str]]:
    """hf:<name>[:<config>]:<split>, streamed: a local dataset folder works offline."""
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        raise EvalkitError("reading a Hub dataset needs the datasets package") from None
    parts = shard.source[3:].split(":")
    name, split = parts[0], parts[-1] if len(parts) > 1 else "train"
    config = parts[1] if len(parts) == 3 else None
    try:
        stream = datasets.load_dataset(name, config, split=split, streaming=True)
    except Exception as exc:
        raise EvalkitError(f"could not open {shard.source} ({type(exc).__name__}: {exc})") from None
    for row, item in enumerate(stream):
        text = item.get(shard.field)
        if text:
            yield str(text), f"{shard.source}#row{row}"
