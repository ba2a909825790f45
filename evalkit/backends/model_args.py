"""Backend parameters from the command line (`--model-args`, `--judge-args`): typed, JSON where structured."""

from __future__ import annotations

from typing import Any

from evalkit.errors import EvalkitError


def parse_model_args(text: str | None, flag: str = "--model-args") -> dict[str, Any]:
    """Backend parameters as typed values: `dtype=bfloat16,max_model_len=2048,enforce_eager=true`.

    A value may be JSON (`hf_overrides={"rope_theta":1e6},stop=["a,b"]`): commas inside brackets,
    braces or quotes do not split items, so nested engine options reach the backend intact. The
    whole text may also be one JSON object, or `@FILE` naming a JSON or YAML file that holds one.
    """
    text = (text or "").strip()
    if text.startswith("@"):
        return _model_args_file(text[1:], flag)
    if text.startswith("{"):
        return _model_args_object(_json_value(text, flag, "the value"), flag, "the value")
    args: dict[str, Any] = {}
    for item in _split_top_level(text, flag):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise EvalkitError(f"{flag} item {item.strip()!r} is not key=value")
        if key in args:
            raise EvalkitError(f"{flag} gives {key} twice; keep one")
        args[key] = _typed(raw.strip(), flag, key)
    return args


_CLOSERS = {"[": "]", "{": "}", "(": ")"}


def _split_top_level(text: str, flag: str) -> list[str]:
    """Split on the commas that are outside brackets, braces and quotes; unbalanced text is an error."""
    items, current, stack, quote, escaped = [], [], [], "", False
    for char in text:
        current.append(char)
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':  # JSON strings escape with a backslash
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'" and "".join(current[:-1]).rstrip()[-1:] in ("", "=", ",", ":", "[", "{", "("):
            quote = char  # only where a value starts: an apostrophe inside a word (don't) is just text
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in _CLOSERS.values():
            if not stack or stack.pop() != char:
                raise EvalkitError(f"{flag}: unexpected {char!r} in {text!r}; check the brackets")
        elif char == "," and not stack:
            items.append("".join(current[:-1]))
            current = []
    if quote or stack:
        missing = quote or stack[-1]
        raise EvalkitError(f"{flag}: {missing!r} is never closed in {text!r}")
    items.append("".join(current))
    return items


def _typed(raw: str, flag: str, key: str) -> Any:
    """JSON for structured values and double-quoted strings; true/false, numbers, else the text itself."""
    if raw[:1] in ("{", "[", '"'):
        return _json_value(raw, flag, key)
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":  # a single-quoted string keeps its commas, loses its quotes
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _json_value(raw: str, flag: str, what: str) -> Any:
    import json

    try:
        return json.loads(raw)
    except ValueError as exc:
        raise EvalkitError(f"{flag} {what}: {raw!r} is not valid JSON ({exc})") from None


def _model_args_object(value: Any, flag: str, source: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and k for k in value):
        raise EvalkitError(f"{flag} {source} must be an object of named parameters, like {{\"dtype\": \"bfloat16\"}}")
    return value


def _model_args_file(name: str, flag: str) -> dict[str, Any]:
    """`@params.json` or `@params.yaml`: the parameters as one object in a file."""
    from pathlib import Path

    path = Path(name.strip()).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalkitError(f"{flag} @{name}: cannot read the file ({exc.__class__.__name__}); name a JSON or YAML file") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise EvalkitError(f"{flag} @{name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    else:
        value = _json_value(text, flag, f"@{name}")
    return _model_args_object(value, flag, f"@{name}")
