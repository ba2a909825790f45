"""Loading benchmark data: from a local data folder, or from the Hugging Face Hub when none is given.

A data folder is laid out like ../shared/data: one folder per benchmark, original file names
(`gsm8k/test.jsonl`, `gsm8k/mgsm_ja.tsv`, ...). `datasets` is imported only for the Hub path.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from evalkit.errors import EvalkitError
from evalkit.text_safety import repaired_value

DATA_DIR_ENV = "EVALKIT_DATA_DIR"


def resolve_data_dir(explicit: str | Path | None) -> Path | None:
    """--data-dir, else $EVALKIT_DATA_DIR, else None (load from the Hub)."""
    value = explicit or os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise EvalkitError(f"data folder {path} does not exist (--data-dir / ${DATA_DIR_ENV})")
    return path.resolve()


def local_file(data_dir: Path, benchmark: str, filename: str) -> Path:
    path = data_dir / benchmark / filename
    if not path.is_file():
        raise EvalkitError(
            f"missing data file {path}: the data folder must hold {benchmark}/{filename} "
            "(laid out like ../shared/data: one folder per benchmark, original file names)"
        )
    return path


def iter_jsonl(path: Path, repair: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON Lines file (gzip-compressed when it
    ends in .gz); a bad line or encoding is an error naming the file and line. Text that is not valid
    Unicode (a lone surrogate's escape) is repaired (evalkit.text_safety) unless `repair` is False:
    a replay file's answers stay as written, for the managed backend to repair and flag."""
    opener = gzip.open if path.suffix == ".gz" else open
    lineno = 0
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise EvalkitError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise EvalkitError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                if repair and "\\ud" in line.lower():  # maybe a lone surrogate's escape: text that is not valid Unicode
                    row = repaired_value(row)
                yield lineno, row
    except UnicodeDecodeError:
        raise EvalkitError(f"{path}:{lineno + 1}: not UTF-8 text") from None
    except (EOFError, gzip.BadGzipFile) as exc:
        raise EvalkitError(f"{path}: not a readable gzip file ({exc})") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file (see iter_jsonl)."""
    return [row for _, row in iter_jsonl(path)]


def read_tsv(path: Path, columns: int) -> list[list[str]]:
    """Rows of a header-less TSV, split on tabs only (no quoting: the texts contain quotes)."""
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != columns:
                raise EvalkitError(f"{path}:{lineno}: expected {columns} tab-separated fields, found {len(fields)}")
            rows.append(fields)
    return rows


def require_fields(rows: Iterable[dict[str, Any]], fields: tuple[str, ...], source: str) -> None:
    for index, row in enumerate(rows):
        missing = [f for f in fields if f not in row]
        if missing:
            raise EvalkitError(f"{source}: row {index} lacks field(s) {', '.join(missing)}")


def file_sha256(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class DataSplit:
    """Rows of one split of a dataset, with what identifies that exact content (a file hash, a Hub fingerprint)."""

    rows: list[dict[str, Any]]
    fingerprint: str


HUB_PROBE_TIMEOUT_S = 5.0
NO_DATA_DIR_HINT = (f"pass --data-dir DIR (or set ${DATA_DIR_ENV}) with the benchmark's files, laid out like "
                    "../shared/data (README: Data)")


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether the Hub answers at all, asked in a few seconds (datasets would retry for half a minute),
    once per endpoint in a process: a task loading several splits waits for it once."""
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        return False
    return _answers(os.environ.get("HF_ENDPOINT") or "https://huggingface.co", timeout)


@lru_cache(maxsize=8)
def _answers(endpoint: str, timeout: float) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
        return True
    except urllib.error.HTTPError:
        return True  # it answered
    except (urllib.error.URLError, OSError, ValueError):
        return False


@contextmanager
def _offline(offline: bool) -> Iterator[None]:
    """datasets and huggingface_hub in offline mode for the duration (they read their settings at import)."""
    if not offline:
        yield
        return
    import datasets.config
    import huggingface_hub.constants

    saved = [(module, attr, getattr(module, attr)) for module, attr in (
        (datasets.config, "HF_HUB_OFFLINE"), (datasets.config, "HF_DATASETS_OFFLINE"),
        (huggingface_hub.constants, "HF_HUB_OFFLINE")) if hasattr(module, attr)]
    for module, attr, _ in saved:
        setattr(module, attr, True)
    try:
        yield
    finally:
        for module, attr, value in saved:
            setattr(module, attr, value)


def load_hub_split(path: str, name: str | None, split: str) -> DataSplit:
    """One split from the Hugging Face Hub (or the local datasets cache when the Hub cannot be reached);
    one line saying how to pass local data when neither has it."""
    online = hub_reachable()
    try:
        import datasets  # heavy: imported only on this path
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise EvalkitError("loading from the Hub needs the `datasets` package") from exc
    where = f"{path}{'/' + name if name else ''} [{split}]"
    try:
        with _offline(not online):  # only the datasets cache, at once, instead of retrying the network
            ds = datasets.load_dataset(path, name, split=split)
    except Exception as exc:
        if not online:
            raise EvalkitError(f"no data folder was given, the Hugging Face Hub cannot be reached, and {where} is not "
                               f"in the local datasets cache: {NO_DATA_DIR_HINT}") from None
        raise EvalkitError(f"could not load {where} from the Hugging Face Hub ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); {NO_DATA_DIR_HINT}") from None
    return DataSplit(rows=[dict(row) for row in ds], fingerprint=f"hf:{path}:{name}:{split}:{ds._fingerprint}")
