"""Token counts for the vllm/ backend: log-likelihoods from vLLM's prompt log-probabilities, and prompts too long to fit.

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


def loglikelihoods(llm: Any, vllm: Any, requests: Sequence[Request], max_model_len: int | None = None,
                   extra: dict[str, Any] | None = None) -> list[Completion]:
    """One engine call for the requests that fit max_model_len (with the one token generated); one that
    does not is an error on its own. An engine failure is recorded on each request sent."""
    splits = token_splits(llm.get_tokenizer(), requests)
    results: list[Completion | None] = [None] * len(requests)
    sent = []
    for i, (head, tail) in enumerate(splits):
        if max_model_len is not None and len(head) + len(tail) + 1 > max_model_len:
            results[i] = too_long(f"context and continuation take {len(head) + len(tail)} tokens and scoring "
                                  "generates 1", len(head) + len(tail) + 1, max_model_len)
        else:
            sent.append(i)
    if sent:
        prompts = [{"prompt_token_ids": splits[i][0] + splits[i][1]} for i in sent]
        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1)
        try:
            outputs = llm.generate(prompts, params, use_tqdm=False, **(extra or {}))
            answers = [_read(output, *splits[i]) for output, i in zip(outputs, sent)]
        except Exception as exc:  # a device failure, and the like
            answers = [Completion(text=None, error=RequestError("engine", f"vllm: {type(exc).__name__}: {exc}"))] * len(sent)
        for i, answer in zip(sent, answers):
            results[i] = answer
    return [r for r in results if r is not None]


def prompt_length(tokenizer: Any, request: Request) -> int | None:
    """The prompt's token count as vLLM will see it: a completion encoded with the tokenizer's special
    tokens, a chat rendered by its chat template and then encoded without them (vLLM's way); None
    when it cannot be counted (no chat template), and vLLM judges it alone."""
    try:
        if request.kind == "chat":
            text = tokenizer.apply_chat_template(request.chat_messages(), tokenize=False, add_generation_prompt=True)
            return len(tokenizer.encode(text, add_special_tokens=False))
        return len(tokenizer.encode(request.prompt or ""))
    except Exception:  # vLLM raises its own error for this prompt; counting must not stop the batch
        return None


def too_long(what: str, total: int, max_model_len: int) -> Completion:
    """The answer to a request that cannot fit: not retried, since another attempt fits no better."""
    return Completion(text=None, error=RequestError(
        "engine", f"vllm: {what}: {total} > max_model_len {max_model_len}; raise it with "
                  f"--model-args max_model_len=N (up to what the model supports) or shorten the prompt"))


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
