"""Where a log-likelihood request's context ends and its continuation begins, in tokens: lm-evaluation-harness's rule.

Whitespace that ends the context moves to the start of the continuation; the whole text is
tokenized once, and the continuation's tokens are those after the context's own token count. A
tokenizer that merges a token across the boundary thus gives the merged token to the context, as
lm-eval does, so both harnesses score the same tokens and pick the same choices.
"""

from __future__ import annotations

from typing import Callable


def split_tokens(encode: Callable[[str], list[int]], context: str, continuation: str,
                 start_token: int | None) -> tuple[list[int], list[int]]:
    """(context tokens, continuation tokens). `encode` tokenizes as a prompt is (with the model's BOS
    where it has one); `start_token` begins an empty context that encodes to nothing."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = encode(context + continuation)
    head = encode(context)
    if not head and start_token is not None:  # nothing before the continuation: predict it from the start token
        head = [start_token]
        whole = head + whole
    return whole[: len(head)], whole[len(head):]
