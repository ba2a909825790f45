"""Log-likelihood of a continuation with llama-cpp-python: the context once, logits read only where the continuation is.

llama.cpp's server answers a log-probability request by ranking the whole vocabulary in Python at
every prompt token (about 23 s a request with Gemma 3's 262k-token vocabulary). Here the context
is decoded with no logits kept, or reused from the KV cache when the previous request had the same
context (the other choices of a multiple-choice question), and logits are kept for the
continuation's positions alone: one log-sum-exp and one argmax per continuation token.

An answer depends on its request alone, never on what was asked before it. llama.cpp's numbers
move with the shape of the batches they were computed in (up to a few tenths of a nat on a
quantized model), so every request is computed in the same two steps: all of the context but its
last token, from position 0; then that token and the continuation. The first step is reused only
when it was exactly this context's first step. A resumed run, or the choices in another order,
give the same numbers to the last bit.

Tokens are split as lm-evaluation-harness splits them (evalkit.backends.continuation).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evalkit.backends.continuation import split_tokens as continuation_split
from evalkit.types import Completion, RequestError


def split_tokens(llm: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context tokens, continuation tokens), each text tokenized as a prompt is, BOS first."""
    return continuation_split(lambda text: llm.tokenize(text.encode("utf-8"), add_bos=True, special=True),
                              context, continuation, llm.token_bos())


class ContextMemo:
    """Which context's first step the KV cache holds, computed as `loglikelihood` computes it. Anything
    else that decodes with the model (a generation) must call `forget`."""

    def __init__(self) -> None:
        self.tokens: list[int] | None = None

    def forget(self) -> None:
        self.tokens = None


def loglikelihood(llm: Any, context: str, continuation: str, memo: ContextMemo) -> Completion:
    head, tail = split_tokens(llm, context, continuation)
    tokens = head + tail
    if not tail:
        return Completion(text=None, logprob=0.0, greedy=True, prompt_tokens=len(tokens), completion_tokens=0)
    if len(tokens) > llm.n_ctx():
        return Completion(text=None, error=RequestError(
            "engine", f"llama.cpp: context and continuation take {len(tokens)} tokens, more than the context window of "
                      f"{llm.n_ctx()} (raise it with --model-args n_ctx=N)"))
    first = head[:-1]  # step one; the logits of head[-1], decoded in step two, predict the continuation's first token
    try:
        if memo.tokens != first or not llm._ctx.kv_cache_seq_rm(-1, len(first), -1):
            memo.forget()
            llm.reset()
            llm._ctx.kv_cache_seq_rm(-1, 0, -1)
            _decode(llm, tokens, 0, len(first), keep_logits=False)
            memo.tokens = first
        logprob, greedy = _decode(llm, tokens, len(first), len(tokens) - 1, keep_logits=True)
    except RuntimeError as exc:
        memo.forget()
        llm.reset()
        return Completion(text=None, error=RequestError("engine", f"llama.cpp: {exc}"))
    # The last token is never decoded: the KV cache holds tokens[:-1], and llama-cpp-python is told
    # so, so that a generation after it reuses what it can and decodes the rest afresh.
    llm.input_ids[: len(tokens) - 1] = tokens[:-1]
    llm.n_tokens = len(tokens) - 1
    if hasattr(llm, "_requires_eval"):
        llm._requires_eval = True
    return Completion(text=None, logprob=logprob, greedy=greedy, prompt_tokens=len(head), completion_tokens=len(tail))


def _decode(llm: Any, tokens: list[int], start: int, stop: int, keep_logits: bool) -> tuple[float, bool]:
    """Decode tokens[start:stop] in batches of n_batch. With `keep_logits`, the summed log-probability
    of each position's next token, and whether each was the argmax."""
    import llama_cpp

    n_batch, n_vocab = llm.n_batch, llm.n_vocab()
    batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
    logprob, greedy = 0.0, True
    try:
        for chunk in range(start, stop, n_batch):
            positions = range(chunk, min(chunk + n_batch, stop))
            batch.n_tokens = len(positions)
            for i, pos in enumerate(positions):
                batch.token[i] = tokens[pos]
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = keep_logits
            code = llama_cpp.llama_decode(llm.ctx, batch)
            if code != 0:
                raise RuntimeError(f"llama_decode returned {code}")
            if not keep_logits:
                continue
            for i, pos in enumerate(positions):
                row = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, i), shape=(n_vocab,))
                target = tokens[pos + 1]
                top = float(row.max())
                logprob += float(row[target]) - (top + float(np.log(np.exp(row - top, dtype=np.float64).sum())))
                greedy = greedy and int(row.argmax()) == target
    finally:
        llama_cpp.llama_batch_free(batch)
    return logprob, greedy
