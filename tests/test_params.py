"""Task parameters (-T): typing, which task takes which key, defaults, and what counts as a change."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.errors import EvalkitError
from evalkit.params import Param, changed, parse_assignments, resolve, split_by_task
from evalkit.plan import task_params_of

COUNT = Param("count", "int", "how many", default=100)
RATE = Param("rate", "float", "how fast")
LOUD = Param("loud", "bool", "shout", default=False)
WHERE = Param("where", "path", "a folder")
MODE = Param("mode", "str", "how", choices=("fast", "slow"), scope="scoring")
NEEDED = Param("needed", "str", "must be given", required=True)


@pytest.mark.parametrize("param, given, typed", [
    (COUNT, "3", 3), (COUNT, " -1 ", -1), (COUNT, 7, 7), (COUNT, 7.0, 7),
    (RATE, "0.5", 0.5), (RATE, "1e-3", 0.001), (RATE, 2, 2.0),
    (LOUD, "true", True), (LOUD, "YES", True), (LOUD, "1", True), (LOUD, "off", False), (LOUD, False, False),
    (MODE, "slow", "slow"),
    (WHERE, "runs/a", str(Path("runs/a").resolve())), (WHERE, "~", str(Path.home())),
])
def test_values_are_typed_by_the_declaration(param, given, typed):
    assert param.coerce(given) == typed and type(param.coerce(given)) is type(typed)


@pytest.mark.parametrize("param, given, message", [
    (COUNT, "three", "-T count='three': expected int"),
    (COUNT, "2.5", "expected int"),
    (COUNT, 2.5, "expected int"),
    (COUNT, True, "expected int"),  # JSON true is not 1
    (COUNT, "", "expected int"),
    (RATE, "fast", "expected float"),
    (LOUD, "maybe", "-T loud='maybe': expected bool"),
    (LOUD, "", "expected bool"),
    (MODE, "medium", "-T mode='medium': expected one of fast, slow"),
    (WHERE, "", "expected path"),
])
def test_a_value_of_the_wrong_type_is_one_clear_error(param, given, message):
    with pytest.raises(EvalkitError, match=message.replace("(", r"\(")):
        param.coerce(given)


@pytest.mark.parametrize("items, parsed", [
    ([], {}),
    (["count=3"], {"count": "3"}),
    (["mode = slow "], {"mode": "slow"}),
    (["metrics=a=b,c=d"], {"metrics": "a=b,c=d"}),  # the first '=' splits
    (["note="], {"note": ""}),
])
def test_assignments(items, parsed):
    assert parse_assignments(items) == parsed


@pytest.mark.parametrize("items, message", [
    (["count"], "-T 'count' is not key=value"),
    (["=3"], "-T '=3' is not key=value"),
    (["count=1", "count=2"], "-T count is given more than once"),
])
def test_malformed_assignments(items, message):
    with pytest.raises(EvalkitError, match=message):
        parse_assignments(items)


def test_resolve_fills_defaults_and_requires_what_is_required():
    assert resolve((COUNT, LOUD, NEEDED), {"needed": "x", "count": "5"}, "t") == {"count": 5, "loud": False, "needed": "x"}
    with pytest.raises(EvalkitError, match=r"t needs -T needed=\.\.\. \(must be given\)"):
        resolve((COUNT, NEEDED), {}, "t")
    with pytest.raises(EvalkitError, match=r"t:v has no task parameter colour \(its parameters: count; `evalkit tasks t`"):
        resolve((COUNT,), {"colour": "red"}, "t:v")


def test_a_key_goes_to_every_task_declaring_it_and_defaults_are_left_out():
    declared = {"a": (COUNT, LOUD), "b": (COUNT,), "c": ()}
    assert split_by_task({"count": "3"}, declared) == {"a": {"count": 3}, "b": {"count": 3}}
    assert split_by_task({"loud": "yes"}, declared) == {"a": {"loud": True}}
    assert split_by_task({"count": "100", "loud": "no"}, declared) == {}  # both defaults: the same run as unset
    with pytest.raises(EvalkitError, match=r"-T rate: no task of this run has that parameter \(they take: count, loud"):
        split_by_task({"rate": "1"}, declared)


def test_changes_are_named_by_task_and_key():
    assert changed({"a": {"count": 3}}, {"a": {"count": 3}}) == []
    assert changed({"a": {"count": 3}}, {"a": {"count": 4}, "b": {"loud": True}}) == [
        "a count (3 -> 4)", "b loud (unset -> True)"]
    assert changed({"a": {"where": "/x"}}, {}) == ["a where ('/x' -> unset)"]


def test_the_built_in_tasks_declare_their_parameters():
    assert task_params_of(["jaster:NLI", "gsm8k"], ["max_samples=5"]) == {"jaster:NLI": {"max_samples": 5}}
    assert task_params_of(["mt_bench", "mt_bench_ja"], ["baseline=runs/gpt4"]) == {
        "mt_bench": {"baseline": str(Path("runs/gpt4").resolve())},
        "mt_bench_ja": {"baseline": str(Path("runs/gpt4").resolve())}}
    with pytest.raises(EvalkitError, match="-T baseline: no task of this run has that parameter"):
        task_params_of(["gsm8k", "humaneval"], ["baseline=x"])
