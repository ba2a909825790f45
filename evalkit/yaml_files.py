"""Small YAML files a user writes (gate rules, leaderboard profiles), read into pydantic models."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from evalkit.errors import EvalkitError

M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M], what: str) -> M:
    """The file as a `model`, or a one-line error naming the file, the field and what is wrong with it."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvalkitError(f"cannot read the {what} {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise EvalkitError(f"{path} is not YAML: {' '.join(str(exc).split())}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "the file"
        message = first["msg"].removeprefix("Value error, ")
        raise EvalkitError(f"{path}: not a {what} ({field}: {message})") from None
