"""`evalkit arena serve | judge | rank | export | import`: a blind pairwise arena over runs.

Registered in the `evalkit.commands` entry-point group (`arena`); importing this module costs only click.
"""

from __future__ import annotations

from pathlib import Path

import click

db_option = click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=Path("arena.sqlite"),
                         show_default=True, help="The arena's votes (SQLite).")


@click.group("arena")
def arena_group() -> None:
    """Blind pairwise votes on runs' answers, from people and from an LLM judge, ranked by Bradley–Terry."""


@arena_group.command("serve")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen (loopback by default).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--seed", type=int, default=None, help="Fix the choice of battles (for tests and demos).")
def serve_command(run_dirs: tuple[Path, ...], db_path: Path, host: str, port: int, seed: int | None) -> None:
    """Serve the voting page: a prompt, two anonymous answers from two runs, and your verdict."""
    try:
        import aiohttp  # noqa: F401 - checked here so that the error is one line
    except ImportError:
        from evalkit.errors import EvalkitError

        raise EvalkitError("the arena's server needs aiohttp: pip install 'evalkit[arena]'") from None
    from evalkit.arena.battles import Arena, load_runs
    from evalkit.arena.server import serve
    from evalkit.arena.store import ArenaStore
    from evalkit.console import console

    arena = Arena(load_runs(run_dirs), ArenaStore(db_path), seed)
    serve(arena, host, port, lambda text: console.print(text, highlight=False, markup=False))


@arena_group.command("judge")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@click.option("--judge", required=True, help="BACKEND/MODEL of the judge, e.g. openai/gpt-4o.")
@click.option("--judge-base-url", default=None, help="OpenAI-compatible endpoint of the judge.")
@click.option("--judge-args", default=None, help="Judge settings key=value,...: max_tokens, retries, json.")
@click.option("--samples", type=click.IntRange(min=1), default=None, help="At most this many samples per pair of runs.")
@click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Request cache file (default: $EVALKIT_CACHE or ~/.cache/evalkit/requests.sqlite).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the request cache.")
def judge_command(run_dirs: tuple[Path, ...], db_path: Path, judge: str, judge_base_url: str | None,
                  judge_args: str | None, samples: int | None, cache_path: Path | None, no_cache: bool) -> None:
    """Let an LLM judge vote: FastChat's pairwise prompts, both orders, every pair of runs."""
    from evalkit.arena.battles import Arena, load_runs
    from evalkit.arena.judging import judge_arena
    from evalkit.arena.store import ArenaStore
    from evalkit.backends.model_args import parse_model_args
    from evalkit.cache import default_cache_path
    from evalkit.console import console

    arena = Arena(load_runs(run_dirs), ArenaStore(db_path))
    tally = judge_arena(arena, judge, judge_base_url, parse_model_args(judge_args, "--judge-args"),
                        None if no_cache else (cache_path or default_cache_path()), samples,
                        lambda text: console.print(text, highlight=False, markup=False))
    console.print(f"judge votes: {tally.games} new, {tally.kept} already in {db_path}, {tally.failed} without a "
                  "readable verdict", highlight=False)


@arena_group.command("rank")
@db_option
@click.option("--source", type=click.Choice(["all", "human", "judge", "import"]), default="all", show_default=True,
              help="Which votes count.")
@click.option("--rounds", type=click.IntRange(min=0), default=1000, show_default=True, help="Bootstrap rounds.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
def rank_command(db_path: Path, source: str, rounds: int, fmt: str) -> None:
    """Bradley–Terry ratings with 95% intervals, the win-rate matrix, battles per pair, people vs judge."""
    import json

    from evalkit.arena.tables import arena_tables
    from evalkit.console import stdout
    from evalkit.tables import as_dict, markdown_table, rich_table

    tables = arena_tables(_existing(db_path), source, rounds)
    if fmt == "json":
        click.echo(json.dumps([as_dict(t) for t in tables], ensure_ascii=False, indent=2))
    elif fmt == "md":
        click.echo("\n".join(markdown_table(t) for t in tables))
    else:
        for table in tables:
            stdout.print(rich_table(table))


@arena_group.command("export")
@db_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--source", type=click.Choice(["all", "human", "judge", "import"]), default="all", show_default=True)
def export_command(db_path: Path, output: Path, source: str) -> None:
    """Write the votes as JSON lines in Chatbot Arena's battle format (model_a, model_b, winner, judge, ...)."""
    import json

    from evalkit.arena.store import battle_line
    from evalkit.arena.tables import votes_of
    from evalkit.console import console

    store = _existing(db_path)
    models = {label: model for label, (_, model) in store.runs().items()}
    votes = votes_of(store, source)
    output.write_text("".join(json.dumps(battle_line(v, models), ensure_ascii=False) + "\n" for v in votes),
                      encoding="utf-8")
    console.print(f"wrote {len(votes)} battles to {output}", highlight=False)


@arena_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@db_option
def import_command(files: tuple[Path, ...], db_path: Path) -> None:
    """Read battles in Chatbot Arena's format (evalkit's own exports included) into the arena."""
    from evalkit.arena.exchange import read_battles
    from evalkit.arena.store import ArenaStore
    from evalkit.console import console

    store = ArenaStore(db_path)
    for path in files:
        votes = read_battles(path)
        console.print(f"{path}: {store.add_votes(votes)} new battles of {len(votes)}", highlight=False)


def _existing(db_path: Path):
    from evalkit.arena.store import ArenaStore
    from evalkit.errors import EvalkitError

    if not db_path.is_file():
        raise EvalkitError(f"{db_path} does not exist: serve, judge or import into it first (--db)")
    return ArenaStore(db_path)
