"""Log-likelihood through an OpenAI-compatible /completions endpoint: reading the echoed prompt's log-probabilities,
and refusing, as an error rather than a number, an answer that does not hold them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from evalkit.backends.openai_logprobs import parse_echo


def echo_response(tokens, offsets, values, tops, generated=1):
    logprobs = SimpleNamespace(tokens=tokens, text_offset=offsets, token_logprobs=values, top_logprobs=tops)
    return SimpleNamespace(choices=[SimpleNamespace(logprobs=logprobs)],
                           usage=SimpleNamespace(completion_tokens=generated) if generated is not None else None)


TOKENS = ["Q", ":", " yes", " no", "\n"]  # context "Q:", continuation " yes no", then one generated token
OFFSETS = [0, 1, 2, 6, 9]
TOP_GREEDY = [None, {":": -0.1}, {" yes": -0.5}, {" no": -0.3}, {"\n": -0.2}]
TOP_NOT = [None, {":": -0.1}, {" yes": -0.5}, {" maybe": -0.1}, {"\n": -0.2}]


@pytest.mark.parametrize("response, expected", [
    (echo_response(TOKENS, OFFSETS, [None, -0.1, -0.5, -0.3, -0.2], TOP_GREEDY), (-0.8, True, 2, 2)),
    (echo_response(TOKENS, OFFSETS, [None, -0.1, -0.5, -0.3, -0.2], TOP_NOT), (-0.8, False, 2, 2)),
    # no usage: one generated token is assumed, as lm-evaluation-harness does
    (echo_response(TOKENS, OFFSETS, [None, -0.1, -0.5, -0.3, -0.2], TOP_GREEDY, generated=None), (-0.8, True, 2, 2)),
    # the server generated nothing (an end token at once): every echoed token is the prompt's
    (echo_response(TOKENS[:4], OFFSETS[:4], [None, -0.1, -0.5, -0.3], TOP_GREEDY[:4], generated=0), (-0.8, True, 2, 2)),
])
def test_the_continuation_is_the_echoed_tokens_from_the_end_of_the_context(response, expected):
    answer = parse_echo(response, "Q:")
    assert (round(answer.logprob, 6), answer.greedy, answer.prompt_tokens, answer.completion_tokens) == expected


@pytest.mark.parametrize("response, kind", [
    (echo_response(None, None, None, None), "unsupported"),  # a server that ignores echo/logprobs
    (echo_response([], [], [], []), "unsupported"),
    (echo_response(TOKENS, OFFSETS[:3], [None, -0.1, -0.5, -0.3, -0.2], TOP_GREEDY), "unsupported"),  # lengths differ
    (echo_response(TOKENS, OFFSETS, [None, -0.1, -0.5, -0.3, -0.2], None), "unsupported"),  # no top tokens
    (echo_response(TOKENS, OFFSETS, [None, -0.1, None, -0.3, -0.2], TOP_GREEDY), "malformed"),  # a hole
    (echo_response(TOKENS, OFFSETS, [None, -0.1, "-0.5", -0.3, -0.2], TOP_GREEDY), "malformed"),  # not a number
    (echo_response(TOKENS, [0, 1, "2", "6", "9"], [None, -0.1, -0.5, -0.3, -0.2], TOP_GREEDY), "malformed"),
    (echo_response(["Q", ":"], [0, 1], [None, -0.1], TOP_GREEDY[:2]), "malformed"),  # nothing after the context
])
def test_an_echo_that_cannot_be_read_is_an_error_not_a_number(response, kind):
    answer = parse_echo(response, "Q:")
    assert not answer.ok and answer.error.kind == kind and answer.logprob is None


def test_no_choices_at_all_is_unsupported():
    assert parse_echo(SimpleNamespace(choices=[]), "x").error.kind == "unsupported"
