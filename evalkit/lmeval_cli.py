"""`evalkit import lm-eval`: lm-evaluation-harness output folders as evalkit runs.

Registered in the `evalkit.commands` entry-point group (`import.lm-eval`); importing this module costs only click.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("lm-eval")
@click.argument("results_dir", type=click.Path(path_type=Path))
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="One run per results_*.json is written to OUTPUT_DIR/<model folder>_<time>/.")
def import_lmeval_command(results_dir: Path, output_dir: Path) -> None:
    """Import an lm-eval --output_path folder (results_*.json with --log_samples' samples_*.jsonl): one evalkit
    run per results file, its tasks named lm_eval:<task>, for show, compare, report and gate."""
    from evalkit.console import console, print_results
    from evalkit.lmeval_io import import_lmeval

    outcomes = import_lmeval(results_dir, output_dir)
    for outcome in outcomes:
        console.print(f"{outcome.manifest.spec.model} → {outcome.run_dir}", highlight=False, markup=False)
        print_results(outcome.summary, outcome.manifest, requests=False)
    console.print(f"imported {len(outcomes)} run(s) into {output_dir}", highlight=False, markup=False)
