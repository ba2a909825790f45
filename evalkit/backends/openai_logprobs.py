"""Log-likelihood through an OpenAI-compatible /completions endpoint: the prompt echoed back with its log-probabilities.

The request is lm-evaluation-harness's: the context and the continuation as one prompt, `echo`,
`logprobs=1` (each position's most likely token, for the greedy check), one generated token. The
server returns, for every prompt token, its text offset and log-probability; the continuation is
the tokens that start at or after the context's last character. vLLM's and llama.cpp's servers
answer this; OpenAI's API and chat-only servers do not, which is an `unsupported` error naming
the backends that can.
"""

from __future__ import annotations

from typing import Any

from evalkit.types import Completion, RequestError

NO_ECHO = ("the server returned no prompt log-probabilities (echo with logprobs): log-likelihood requests need a "
           "completions endpoint that gives them, such as vLLM's or llama.cpp's server, or the llamacpp/ or vllm/ backend")


def request_options(context: str, continuation: str) -> dict[str, Any]:
    return {"prompt": context + continuation, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1}


def parse_echo(response: Any, context: str) -> Completion:
    """The continuation's summed log-probability and whether each of its tokens was the most likely one."""
    choices = getattr(response, "choices", None)
    logprobs = getattr(choices[0], "logprobs", None) if choices else None
    tokens = getattr(logprobs, "tokens", None)
    values = getattr(logprobs, "token_logprobs", None)
    offsets = getattr(logprobs, "text_offset", None)
    tops = getattr(logprobs, "top_logprobs", None)
    if not (isinstance(tokens, list) and isinstance(values, list) and isinstance(offsets, list) and tokens
            and len(tokens) == len(values) == len(offsets)):
        return Completion(text=None, error=RequestError("unsupported", NO_ECHO))
    usage = getattr(response, "usage", None)
    generated = getattr(usage, "completion_tokens", None)
    end = len(tokens) - (generated if isinstance(generated, int) and 0 <= generated < len(tokens) else 1)
    start = next((i for i, offset in enumerate(offsets) if isinstance(offset, int) and offset >= len(context)), end)
    if start >= end:
        return Completion(text=None, error=RequestError(
            "malformed", "the echoed prompt has no token after the context: the continuation is empty or was "
                         "merged into the context's last token"))
    picked = values[start:end]
    if not all(isinstance(v, (int, float)) for v in picked):
        return Completion(text=None, error=RequestError(
            "malformed", "the server gave no log-probability for a continuation token (the prompt's first token "
                         "has none: give the continuation a context)"))
    greedy = True
    for i in range(start, end):
        top = tops[i] if isinstance(tops, list) and i < len(tops) else None
        if not isinstance(top, dict) or not top:
            return Completion(text=None, error=RequestError("unsupported", NO_ECHO))
        greedy = greedy and max(top, key=top.__getitem__) == tokens[i]
    return Completion(text=None, logprob=float(sum(picked)), greedy=greedy, prompt_tokens=start,
                      completion_tokens=end - start)
