"""`evalkit contamination scan`: which items of the named tasks a training corpus contains.

Registered in the `evalkit.commands` entry-point group (`contamination`); importing this module costs only click.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("contamination")
def contamination_group() -> None:
    """Benchmark contamination: n-gram overlap between the tasks' items and a training corpus."""


@contamination_group.command("scan")
@click.option("--tasks", "tasks_arg", required=True, help="Comma-separated task names (see `evalkit tasks`).")
@click.option("--corpus", "corpora", multiple=True, required=True, metavar="PATH",
              help="A file, folder or glob of .jsonl / .txt / .parquet (plain, .gz or .zst), or hf:NAME[:CONFIG]:SPLIT "
                   "for a Hugging Face dataset (streamed); repeatable.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The report folder: items.jsonl, contaminated.jsonl (for --exclude), summary.csv, scan.json.")
@click.option("--ngram", type=click.IntRange(min=1), default=None,
              help="N-gram size for English, in words [default: 13, as lm-evaluation-harness].")
@click.option("--ngram-ja", type=click.IntRange(min=1), default=None,
              help="N-gram size for Japanese, in the tokenizer's units [default: 20 characters; 10 MeCab words].")
@click.option("--tokenizer", "tokenizer_name", type=click.Choice(["units", "mecab", "lm-eval"]), default="units",
              show_default=True, help="units: words and single CJK characters; mecab: MeCab words for Japanese; "
                                      "lm-eval: lm-evaluation-harness's normalisation, to compare with it.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of an item part's n-grams that must occur in the corpus; 0: any one.")
@click.option("--text-field", default="text", show_default=True, help="The text field of JSON lines, Parquet and Hub rows.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes [default: every core].")
@click.option("--engine", default="processes", show_default=True,
              help="processes, dask (a local Dask cluster), or a Dask scheduler address such as tcp://host:8786.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Local data folder laid out like ../shared/data (default: $EVALKIT_DATA_DIR, else the Hub).")
@click.option("-T", "--task-param", "task_params", multiple=True, metavar="KEY=VALUE",
              help="A task parameter, as for `evalkit run` (it can change which samples a task has); repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N samples of each task.")
def scan_command(tasks_arg: str, corpora: tuple[str, ...], output: Path, ngram: int | None, ngram_ja: int | None,
                 tokenizer_name: str, threshold: float, text_field: str, workers: int | None, engine: str,
                 data_dir: Path | None, task_params: tuple[str, ...], limit: int | None) -> None:
    """Find the tasks' items (inputs and gold answers, not the few-shot frame) in a corpus, and write a report."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    from evalkit.console import console, stdout
    from evalkit.contamination.check import CheckSettings, check, task_segments
    from evalkit.contamination.report import items, summary_table
    from evalkit.data import resolve_data_dir
    from evalkit.errors import Interrupted
    from evalkit.plan import task_params_of
    from evalkit.registry import parse_task_list
    from evalkit.tables import rich_table

    names = parse_task_list(tasks_arg)
    settings = CheckSettings(tasks=names, corpora=corpora, tokenizer=tokenizer_name, ngram=ngram, ngram_ja=ngram_ja,
                             threshold=threshold, text_field=text_field, workers=workers, engine=engine,
                             data_dir=resolve_data_dir(data_dir), task_params=task_params_of(names, task_params),
                             limit=limit)
    segments = task_segments(settings)
    columns = (TextColumn("scanning"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TextColumn("{task.fields[docs]:,} documents"),
               TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            job = bar.add_task("scan", total=None, docs=0)
            _, found, about = check(settings, segments, output,
                                    lambda done, total, docs: bar.update(job, completed=done, total=total or None,
                                                                         docs=docs))
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: a scan writes its report when it ends, so nothing was written to {output}; "
                          "run the same command again to scan from the start") from None
    stdout.print(rich_table(summary_table(found, threshold)))
    by_item = items(found, threshold)
    dirty = sum(bool(i["parts"]) for i in by_item.values())
    size = (f"{about['bytes'] / 1e6:,.1f} MB, " if about["bytes"] else "")
    speed = f", {about['bytes'] / 1e6 / max(about['seconds'], 1e-9):,.1f} MB/s" if about["bytes"] else ""
    console.print(f"{dirty} of {len(by_item)} items contaminated; {size}{about['documents']:,} documents in "
                  f"{about['seconds']:.1f}s{speed}. Report: {output}; scores without these items: "
                  f"evalkit show RUN --exclude {output}",
                  highlight=False)
