"""A LoRA adapter for the vllm/ backend (`--model-args lora=PATH`): what it is, and what the engine needs to serve it.

One adapter per backend: a run evaluates one model, and base + adapter is that model. Comparing
adapters is several runs, each with its own cache identity (the adapter's path and a hash of its
files), its own run.json entry and its own name (`vllm/BASE+lora:ADAPTER`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.fingerprint import checkpoint_sha256

# The ranks vLLM's engine can reserve room for (vllm.config.lora.MaxLoRARanks in 0.32).
ENGINE_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_ENGINE_RANK = 16  # vLLM's own default max_lora_rank


@dataclass(frozen=True)
class Adapter:
    path: Path
    sha256: str
    rank: int | None  # adapter_config.json "r"
    base_model: str | None  # adapter_config.json "base_model_name_or_path": what it was trained on

    @property
    def name(self) -> str:
        return self.path.name

    def identity(self) -> dict[str, Any]:
        return {"path": str(self.path), "sha256": self.sha256}

    def provenance(self) -> dict[str, Any]:
        return {**self.identity(), "rank": self.rank, "base_model": self.base_model}


def load_adapter(value: Any, flag: str = "--model-args") -> Adapter:
    """The adapter folder `lora=` names (a PEFT folder: adapter_config.json and the adapter's weights)."""
    if not isinstance(value, str) or not value.strip():
        raise EvalkitError(f"{flag} lora= takes one adapter folder (lora=/path/to/adapter), not {value!r}")
    path = Path(value).expanduser().resolve()
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise EvalkitError(f"{flag} lora={value}: no adapter_config.json there; name a PEFT LoRA adapter folder")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvalkitError(f"{flag} lora={value}: adapter_config.json is not readable JSON ({exc})") from None
    if not isinstance(config, dict):
        raise EvalkitError(f"{flag} lora={value}: adapter_config.json is not a JSON object")
    rank = config.get("r")
    sha256 = checkpoint_sha256(str(path))
    assert sha256 is not None  # a folder that holds adapter_config.json is on this disk
    return Adapter(path=path, sha256=sha256, rank=rank if isinstance(rank, int) and rank > 0 else None,
                   base_model=config.get("base_model_name_or_path"))


def engine_args_for(adapter: Adapter, args: dict[str, Any]) -> dict[str, Any]:
    """The engine arguments that serve `adapter`: LoRA on, and room for its rank unless max_lora_rank is given."""
    out = {**args, "enable_lora": True}
    if "max_lora_rank" not in args and adapter.rank is not None and adapter.rank > DEFAULT_ENGINE_RANK:
        fitting = [r for r in ENGINE_RANKS if r >= adapter.rank]
        if not fitting:
            raise EvalkitError(f"LoRA adapter {adapter.path} has rank {adapter.rank}, more than vLLM serves "
                               f"(at most {ENGINE_RANKS[-1]})")
        out["max_lora_rank"] = fitting[0]
    return out


def lora_request(adapter: Adapter) -> Any:
    """vLLM's handle for the adapter; id 1, the engine's only one."""
    from vllm.lora.request import LoRARequest

    return LoRARequest(adapter.name, 1, str(adapter.path))
