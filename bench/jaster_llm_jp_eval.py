"""Jaster prompt for prompt against llm-jp-eval 1.3.0: how many of the first 100 test prompts and golds of each
dataset evalkit renders byte-identical to llm-jp-eval's own.

llm-jp-eval's prompts are rendered here directly from its preprocessed output (DATA/jaster/llm-jp-eval-1.3.0:
prompt_frame.json's head + the first N samples of evaluation/train + the query), with plain str.format and no
evalkit code. evalkit's are what `jaster` sends, built twice: from the original files (--data-dir) and from
that same preprocessed output (-T jaster_dir). 4-shot where llm-jp-eval has a train file, else 0-shot
(jnli, jsquad). wiki_* train files were made from dev documents (see ../shared/data/README.md), so their
4-shot prompts check the preprocessing, not llm-jp-eval's own few-shot choice.

    python bench/jaster_llm_jp_eval.py [DATA_DIR]     (default ../shared/data; writes results/jaster_llm_jp_eval.md)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REFERENCE = Path("jaster/llm-jp-eval-1.3.0")
FIRST = 100


def reference_prompts(data_dir: Path, dataset: str) -> tuple[int, list[tuple[str, str]]]:
    """(num_fewshot, [(prompt, gold)]) for the first 100 test samples, as llm-jp-eval 1.3.0 renders them."""
    root = data_dir / REFERENCE
    frame = json.loads((root / "prompt_frame.json").read_text(encoding="utf-8"))
    test = json.loads((root / "evaluation/test" / f"{dataset}.json").read_text(encoding="utf-8"))
    train_path = root / "evaluation/train" / f"{dataset}.json"
    shots = json.loads(train_path.read_text(encoding="utf-8"))["samples"][:4] if train_path.is_file() else []
    head = frame["head"].format(instruction=test["instruction"]) + "".join(
        frame["shot"].format(input=s["input"], output=s["output"]) for s in shots)
    return len(shots), [(head + frame["query"].format(input=s["input"]), s["output"]) for s in test["samples"][:FIRST]]


def evalkit_prompts(data_dir: Path, dataset: str, num_fewshot: int, from_reference: bool) -> list[tuple[str, str]]:
    from evalkit.registry import TaskOptions, build_task

    params = {"jaster_dir": str(data_dir / REFERENCE)} if from_reference else None
    task = build_task(f"jaster:{dataset}", TaskOptions(data_dir=data_dir, num_fewshot=num_fewshot), params)
    samples = task.load().samples[:FIRST]
    return [(task.build_request(s, []).prompt, s.target) for s in samples]


def datasets(data_dir: Path) -> list[str]:
    return sorted(p.stem for p in (data_dir / REFERENCE / "evaluation/test").glob("*.json"))


def compare(data_dir: Path, dataset: str, from_reference: bool) -> dict:
    shots, want = reference_prompts(data_dir, dataset)
    got = evalkit_prompts(data_dir, dataset, shots, from_reference)
    return {"dataset": dataset, "shots": shots, "n": len(want), "got": len(got),
            "prompts": sum(g[0] == w[0] for g, w in zip(got, want)),
            "golds": sum(g[1] == w[1] for g, w in zip(got, want))}


def main() -> None:
    data_dir = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data")
    lines = ["| dataset | shots | originals: prompts | originals: golds | llm-jp-eval files: prompts | llm-jp-eval files: golds |",
             "|---|---|---|---|---|---|"]
    for dataset in datasets(data_dir):
        a, b = compare(data_dir, dataset, False), compare(data_dir, dataset, True)
        lines.append(f"| {dataset} | {a['shots']} | {a['prompts']}/{a['n']} | {a['golds']}/{a['n']} "
                     f"| {b['prompts']}/{b['n']} | {b['golds']}/{b['n']} |")
        print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "jaster_llm_jp_eval.md"
    out.write_text("# Jaster prompts byte for byte against llm-jp-eval 1.3.0\n\n"
                   "First 100 test samples per dataset; `python bench/jaster_llm_jp_eval.py`.\n\n" + "\n".join(lines) + "\n",
                   encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
