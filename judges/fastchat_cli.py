"""`evalkit import fastchat` and `evalkit export fastchat`: FastChat llm_judge files to evalkit runs and back.

Registered in the `evalkit.commands` entry-point group (`import.fastchat`, `export.fastchat`), so the
core CLI lists them without knowing this plugin; importing this module costs only click.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("fastchat")
@click.option("--questions", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
              help="FastChat question file (question.jsonl).")
@click.option("--judgments", type=click.Path(dir_okay=False, exists=True, path_type=Path), multiple=True, required=True,
              help="model_judgment/<judge>_single.jsonl or _pair.jsonl; repeat for several files.")
@click.option("--answers", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="FastChat model_answer/ folder (one <model>.jsonl per model).")
@click.option("--task", "task_name", default=None,
              help="mt_bench, mt_bench_ja or mt_bench_ja:full (default: from where the question file lies).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="One run per model is written to OUTPUT_DIR/<model>/.")
@click.option("--skip-unknown", is_flag=True, help="Leave out judgments of questions the question file lacks.")
def import_fastchat_command(questions: Path, judgments: tuple[Path, ...], answers: Path | None, task_name: str | None,
                            output_dir: Path, skip_unknown: bool) -> None:
    """Import FastChat questions, answers and judgments: one evalkit run per model."""
    from evalkit.console import console, stdout
    from evalkit.judges.fastchat_io import import_fastchat
    from evalkit.judges.tables import judge_tables
    from evalkit.tables import rich_table

    runs = import_fastchat(questions, judgments, output_dir, answers=answers, task_name=task_name,
                           skip_unknown=skip_unknown)
    for run in runs:
        console.print(f"{run.model} → {run.run_dir}", highlight=False)
        for table in judge_tables(run.outcome.manifest.spec.tasks[0], run.outcome.summary):
            stdout.print(rich_table(table))
    console.print(f"imported {len(runs)} runs into {output_dir}", highlight=False)


@click.command("fastchat")
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="FastChat data folder to write into (default: RUN_DIR/fastchat).")
@click.option("--model-id", default=None, help="Model name in FastChat's files (default: the run's model).")
def export_fastchat_command(run_dir: Path, output_dir: Path | None, model_id: str | None) -> None:
    """Write a run's MT-Bench answers (and single judgments) in FastChat's formats."""
    from evalkit.console import console
    from evalkit.judges.fastchat_io import export_fastchat

    for path in export_fastchat(run_dir, output_dir or run_dir / "fastchat", model_id):
        console.print(f"wrote {path}", highlight=False)
