"""Log-likelihood of a continuation with vLLM's offline engine: its prompt log-probabilities, one batch for all requests.

Each request becomes the token ids of context + continuation (split as lm-evaluation-harness does,
evalkit.backends.continuation), generated with one token and `prompt_logprobs=1`: vLLM then
returns, for every prompt position, the log-probability of the token there and its rank among
all tokens. The continuation's log-likelihood is the sum over its positions; it is greedy when
every one of its tokens ranks first.
"""

from __future__ import annotations

from typing import Any, Sequence

from evalkit.backends.continuation import split_tokens
from evalkit.types import Completion, Request, RequestError


def token_splits(tokenizer: Any, requests: Sequence[Request]) -> list[tuple[list[int], list[int]]]:
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [split_tokens(tokenizer.encode, r.prompt or "", r.continuation or "", start) for r in requests]


def loglikelihoods(llm: Any, vllm: Any, requests: Sequence[Request]) -> list[Completion]:
    """One engine call for the batch; an engine failure is recorded on each request."""
    splits = token_splits(llm.get_tokenizer(), requests)
    prompts = [{"prompt_token_ids": head + tail} for head, tail in splits]
    params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
    try:
        outputs = llm.generate(prompts, params, use_tqdm=False)
    except Exception as exc:  # vLLM raises many types for a prompt too long, a device failure, ...
        return [Completion(text=None, error=RequestError("engine", f"vllm: {type(exc).__name__}: {exc}"))] * len(requests)
    return [_read(output, head, tail) for output, (head, tail) in zip(outputs, splits)]


def _read(output: Any, head: list[int], tail: list[int]) -> Completion:
    if not tail:
        return Completion(text=None, logprob=0.0, greedy=True, prompt_tokens=len(head), completion_tokens=0)
    ids, positions = head + tail, output.prompt_logprobs or []
    total, greedy = 0.0, True
    for pos in range(len(head), len(ids)):
        entry = positions[pos].get(ids[pos]) if pos < len(positions) and positions[pos] else None
        if entry is None:
            return Completion(text=None, error=RequestError(
                "malformed", f"vllm returned no log-probability for prompt position {pos}"))
        total += float(entry.logprob)
        greedy = greedy and entry.rank == 1
    return Completion(text=None, logprob=total, greedy=greedy, prompt_tokens=len(head), completion_tokens=len(tail))
