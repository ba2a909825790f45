"""Backends: the Backend role, the registry of kinds, and the built-in kinds `openai/`, `vllm/`, `replay/`.

Each built-in kind is registered in the `evalkit.backends` entry-point group (see pyproject.toml),
exactly as a third-party backend is, and its module is imported only when a run chooses it.
"""

from evalkit.backends.base import Backend, BackendKind, BackendSettings, load_backend
from evalkit.backends.model_args import parse_model_args

__all__ = ["Backend", "BackendKind", "BackendSettings", "load_backend", "parse_model_args"]
