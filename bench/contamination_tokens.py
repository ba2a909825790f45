"""Which units and n for Japanese: characters or MeCab words, and how many, measured on planted items.

    python bench/contamination_tokens.py --data-dir ../shared/data [--size-mb 30] [--per-kind 120]
        [--out bench/results/contamination_tokens.md]

The items are those of every task with local data except MT-Bench (whose own model answers are part
of the background, see contamination_corpus.py): Jaster, GSM8K, MGSM-ja, HumanEval, JHumanEval.
`--per-kind` Japanese items and as many English ones are planted in each of the four kinds
(verbatim, noisy, answer, partial) into a corpus of real background text; a second corpus of the
same background has nothing planted. Each configuration scans both, and the planted texts alone,
and a flag on the planted corpus is labelled:

- right, when the planted texts alone flag the item too: it was planted, or it shares an n-gram
  with a planted item (JSQuAD questions on one passage, NLI pairs that share a premise);
- wrong otherwise: an n-gram the item shares with background text.

It reports, per configuration, the share of Japanese inputs long enough to be checked, recall per
kind, right and wrong flags on the planted corpus, flags on the clean one, and scan time; and
writes the n-grams behind the clean corpus's flags, which say why they happened.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from contamination_corpus import KINDS, background, make_plants, write_corpus  # noqa: E402

from evalkit.contamination.check import CheckSettings, check, task_segments  # noqa: E402
from evalkit.contamination.report import items as item_verdicts  # noqa: E402
from evalkit.contamination.text import is_japanese, tokenizer  # noqa: E402

TASKS = ["jaster", "gsm8k", "mgsm_ja", "humaneval", "jhumaneval"]
CONFIGS = [("units", n) for n in (8, 10, 13, 15, 20, 25, 30)] + [("mecab", n) for n in (5, 7, 10, 13)]


def flagged(found) -> set[tuple[str, str]]:
    return {key for key, v in item_verdicts(found, 0.0).items() if v["parts"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--size-mb", type=float, default=30)
    parser.add_argument("--per-kind", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/results/contamination_tokens.md"))
    args = parser.parse_args()

    segments = task_segments(CheckSettings(tasks=TASKS, corpora=[], data_dir=args.data_dir))
    inputs = {(s.task, s.sample_id): s.text for s in segments if s.part == "input"}
    answers = {(s.task, s.sample_id): s.text for s in segments if s.part == "answer"}
    split = tokenizer("units").split
    japanese = [(t, i, text, answers.get((t, i))) for (t, i), text in inputs.items() if is_japanese(split(text))]
    english = [(t, i, text, answers.get((t, i))) for (t, i), text in inputs.items() if not is_japanese(split(text))]
    japanese_lengths = [len(split(text)) for _, _, text, _ in japanese]
    rng = random.Random(args.seed)
    plants = make_plants(japanese, args.per_kind, rng) + make_plants(english, args.per_kind, rng)
    language = {(t, i): "ja" for t, i, _, _ in japanese} | {(t, i): "en" for t, i, _, _ in english}
    planted = {(p.task, p.sample_id): p for p in plants}
    paragraphs = [p for source in background(args.data_dir).values() for p in source]

    lines = ["# Japanese units and n for the contamination scan\n",
             f"`python bench/contamination_tokens.py --size-mb {args.size_mb:g} --per-kind {args.per_kind} "
             f"--seed {args.seed}`\n",
             f"{len(inputs)} items of {', '.join(TASKS)} ({len(japanese)} Japanese, {len(english)} English inputs). "
             f"Planted: {args.per_kind} Japanese and {args.per_kind} English items per kind ({', '.join(KINDS)}; "
             "an answer plant only where the answer has 32 or more units). Background: "
             f"{len(paragraphs):,} real paragraphs, {args.size_mb:g} MB per corpus. English n is 13 words throughout.\n"]
    header = ("| units | ja n | ja inputs checkable | " + " | ".join(f"ja {k}" for k in KINDS) + " | en " + " | en ".join(KINDS)
              + " | right flags | wrong flags | flags on clean | scan s |")
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    clean_examples: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dirty, clean, alone = Path(tmp, "planted.jsonl"), Path(tmp, "clean.jsonl"), Path(tmp, "plants.jsonl")
        write_corpus(dirty, int(args.size_mb * 1e6), paragraphs, plants, args.seed)
        write_corpus(clean, int(args.size_mb * 1e6), paragraphs, [], args.seed + 1)
        alone.write_text("".join(json.dumps({"text": p.text}, ensure_ascii=False) + "\n" for p in plants), encoding="utf-8")
        for name, n in CONFIGS:
            def scan(corpus: Path):
                return check(CheckSettings(tasks=TASKS, corpora=[str(corpus)], tokenizer=name, ngram_ja=n, workers=2),
                             segments)[1]

            started = time.perf_counter()
            found = flagged(scan(dirty))
            seconds = time.perf_counter() - started
            from_plants = flagged(scan(alone))
            clean_found = scan(clean)
            on_clean = flagged(clean_found)
            right, wrong = len(found & from_plants), len(found - from_plants)
            recall = []
            for lang in ("ja", "en"):
                for kind in KINDS:
                    mine = [k for k, p in planted.items() if p.kind == kind and language[k] == lang]
                    recall.append(f"{sum(k in found for k in mine)}/{len(mine)}")
            clean_examples[f"{'characters' if name == 'units' else 'MeCab words'} n={n}"] = [
                f"{s.task} {s.sample_id} {s.part}: {s.first_ngram}" for s in clean_found if s.first_ngram]
            share = sum(length >= n for length in japanese_lengths) / len(japanese_lengths) if name == "units" else None
            lines.append(f"| {'characters' if name == 'units' else 'MeCab words'} | {n} | "
                         f"{'' if share is None else f'{share:.0%}'} | " + " | ".join(recall)
                         + f" | {right} | {wrong} | {len(on_clean)} | {seconds:.1f} |")
            print(lines[-1], flush=True)
    lines.append("\nWhat the clean corpus's flags share with it (item, part: the n-gram), at most 5 per configuration:\n")
    for config, examples in clean_examples.items():
        if examples:
            lines.append(f"- {config}: " + "; ".join(f"`{e}`" for e in examples[:5]) + (f" (+{len(examples) - 5})" if len(examples) > 5 else ""))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
