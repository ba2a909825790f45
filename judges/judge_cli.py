"""`evalkit judge agreement`: how far two judges agree on the same answers.

Registered in the `evalkit.commands` entry-point group (`judge`); importing this module costs only click.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("judge")
def judge_group() -> None:
    """How far an LLM judge can be trusted."""


@judge_group.command("agreement")
@click.argument("run_a", type=click.Path(path_type=Path))
@click.argument("run_b", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
def agreement_command(run_a: Path, run_b: Path, fmt: str) -> None:
    """Agreement of RUN_B's judge with RUN_A's on the answers both judged (runs or `evalkit import fastchat`
    runs): per turn and category, Pearson, Spearman, Kendall, mean difference, exact and ±1 agreement, a
    confusion table, and pairwise agreement with and without ties."""
    from evalkit.console import stdout
    from evalkit.judges.agreement import agreement_json, agreement_tables, compare_judges
    from evalkit.store import RunResult
    from evalkit.tables import markdown_table, rich_table

    agreement = compare_judges(RunResult.read(run_a), RunResult.read(run_b))
    if fmt == "json":
        click.echo(json.dumps(agreement_json(agreement), ensure_ascii=False, indent=1))
        return
    for table in agreement_tables(agreement):
        if fmt == "md":
            click.echo(markdown_table(table))
        else:
            stdout.print(rich_table(table))
