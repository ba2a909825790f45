"""The `evalkit` command: tasks, dump, run, score, and the commands plugins register.

Bad input ends in one line on stderr and a non-zero exit; `--debug` (or EVALKIT_DEBUG=1) shows
the traceback instead. Nothing heavy (datasets, vllm, torch, pandas) is imported for `--help`.
Plugins add commands through the `evalkit.commands` entry-point group: an entry named `import.X`
or `export.X` becomes `evalkit import X` / `evalkit export X`, any other name a command of its own.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from evalkit import __version__
from evalkit.errors import EvalkitError, Terminated
from evalkit.plugins import entry_points_of

COMMANDS_GROUP = "evalkit.commands"


def _debug_requested(args: list[str] | None) -> bool:
    return "--debug" in (args if args is not None else sys.argv[1:]) or os.environ.get("EVALKIT_DEBUG") == "1"


class EvalkitGroup(click.Group):
    """Turns every failure into one line on stderr and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        args = list(args) if args is not None else sys.argv[1:]
        debug = _debug_requested(args)
        previous = _stop_on_sigterm()
        try:
            _check_arguments(args)
            code = super().main(args, prog_name or "evalkit", complete_var, standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt) as stop:  # click turns Ctrl-C (and SIGTERM) into Abort
            terminated = isinstance(stop, Terminated) or isinstance(stop.__cause__, Terminated)
            code = _fail("interrupted", Terminated.exit_code if terminated else 130)
        except click.ClickException as exc:
            code = _fail(exc.format_message(), exc.exit_code)
        except EvalkitError as exc:
            if debug:
                raise
            code = _fail(str(exc), exc.exit_code)
        except Exception as exc:  # a bug: still one line, unless --debug
            if debug:
                raise
            code = _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _check_arguments(args: list[str]) -> None:
    """Every argument valid Unicode: bytes that are not UTF-8 (which Python reads as lone surrogates)
    would reach run.json, reports and the terminal, none of which can hold them."""
    from evalkit.text_safety import escaped, is_valid_unicode

    for arg in args:
        if not is_valid_unicode(arg):
            raise EvalkitError(f"the argument '{escaped(arg)}' is not valid UTF-8 text: give it in UTF-8 (rename a file "
                               "whose name is not)")


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _stop_on_sigterm() -> Any:
    """SIGTERM (a `kill`, a job scheduler's stop) ends a command the way Ctrl-C does: every `finally`
    runs, a run is marked interrupted, temporary folders go. Returns the handler it replaced (None
    off the main thread, where no handler can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _fail(message: str, code: int) -> int:
    click.echo(f"error: {message}", err=True)
    return code


@click.group(cls=EvalkitGroup)
@click.version_option(__version__, prog_name="evalkit")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Evaluate LLMs on Jaster, MT-Bench, GSM8K/MGSM and HumanEval, strict and lenient side by side."""


# --- options several commands share -------------------------------------------------------------

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Local data folder laid out like ../shared/data (default: $EVALKIT_DATA_DIR, else the Hugging Face Hub).",
)
task_param_option = click.option(
    "-T", "--task-param", "task_params", multiple=True, metavar="KEY=VALUE",
    help="A task parameter, for every task of the run that declares it (`evalkit tasks NAME` lists them); repeatable.",
)


def _url_list(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> str | None:
    """A repeated URL option as the one comma list the backends read (a value may be a comma list itself)."""
    return ",".join(values) if values else None


def judge_options(command):
    for option in reversed([
        click.option("--judge", default=None, help="BACKEND/MODEL of the LLM judge (MT-Bench), e.g. openai/gpt-4o."),
        click.option("--judge-base-url", multiple=True, callback=_url_list,
                     help="OpenAI-compatible endpoint of the judge; repeat it (or separate URLs with commas) to "
                          "spread judge calls over several servers of one model."),
        click.option("--judge-args", default=None,
                     help="Judge settings key=value,...: max_tokens (2048), retries (2), json (false), repeats (1)."),
        click.option("--judge-repeats", type=click.IntRange(min=1), default=None,
                     help="Grade every answer N times (the first greedy, the others sampled) and report the spread "
                          "per answer: how stable the judge is. Same as --judge-args repeats=N."),
    ]):
        command = option(command)
    return command


def cache_options(command):
    for option in reversed([
        click.option("--cache", "cache_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Request cache file (default: $EVALKIT_CACHE or ~/.cache/evalkit/requests.sqlite)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the request cache."),
    ]):
        command = option(command)
    return command


def moved(flag: str, replacement: str):
    """A flag that moved: still recognised, so that using it says where it went."""

    def refuse(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            raise click.UsageError(f"{flag} is now {replacement}")

    return click.option(flag, hidden=True, expose_value=False, callback=refuse)


def judge_arguments(text: str | None, repeats: int | None) -> dict[str, Any]:
    """--judge-args, with --judge-repeats folded in."""
    from evalkit.backends.model_args import parse_model_args

    args = parse_model_args(text, "--judge-args")
    if repeats is not None:
        args["repeats"] = repeats
    return args


def _cache_file(cache_path: Path | None, no_cache: bool) -> Path | None:
    from evalkit.cache import default_cache_path

    return None if no_cache else (cache_path or default_cache_path())


# --- tasks, dump ---------------------------------------------------------------------------------


@cli.command("tasks")
@click.argument("name", required=False)
@data_dir_option
def tasks_command(name: str | None, data_dir: Path | None) -> None:
    """List the task families, one row each; NAME: one family in full (variants, genres, sample counts, parameters).
    For lm-eval's library, `lm_eval:PATTERN` lists the names matching a shell-style pattern (`lm_eval:mmlu*`)."""
    from evalkit.console import stdout
    from evalkit.data import resolve_data_dir
    from evalkit.registry import family_of, task_families, task_family
    from evalkit.tables import rich_table
    from evalkit.task_list import family_notes, family_table, overview_table, parameters_table

    data = resolve_data_dir(data_dir)
    if name is None:
        stdout.print(rich_table(overview_table(list(task_families().values()), data)))
    else:
        family_name, _, pattern = name.partition(":")
        family = task_family(family_name) or family_of(name)[0]  # an unknown name: one line with the closest
        if family.listing is not None:  # a library of its own: the names matching PATTERN
            table, unavailable = family.listing(pattern or "*"), []
        else:
            table, unavailable = family_table(family, data)
        stdout.print(rich_table(table))
        for line in unavailable:  # task and plugin text: printed as it is, never read as markup
            stdout.print(line, markup=False, highlight=False)
        if family.params:
            stdout.print(rich_table(parameters_table(family)))
        for note in family_notes(family):
            stdout.print(note, markup=False, highlight=False)
    if data is None:
        stdout.print("sample counts need local data: pass --data-dir or set EVALKIT_DATA_DIR")


@cli.command("dump")
@click.option("--tasks", "tasks_arg", required=True, help="Comma-separated task names.")
@data_dir_option
@task_param_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N samples of each task.")
@click.option("--num-fewshot", type=click.IntRange(min=0), default=None)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def dump_command(tasks_arg: str, data_dir: Path | None, task_params: tuple[str, ...], limit: int | None,
                 num_fewshot: int | None, output: Path) -> None:
    """Write the rendered prompts and targets, one line per sample (to run elsewhere, then replay)."""
    from evalkit.data import resolve_data_dir
    from evalkit.plan import prepare_tasks, task_params_of
    from evalkit.registry import parse_task_list
    from evalkit.spec import RunSpec

    data = resolve_data_dir(data_dir)
    names = parse_task_list(tasks_arg)
    spec = RunSpec(tasks=names, model="dump/none", data_dir=str(data) if data else None, limit=limit,
                   num_fewshot=num_fewshot, task_params=task_params_of(names, task_params))
    count = 0
    with output.open("w", encoding="utf-8") as fh:
        for prepared in prepare_tasks(spec, scoring=False):
            for sample in prepared.samples:
                requests = prepared.task.build_requests(sample, [])
                asked = requests[0].rendered() if len(requests) == 1 else {"requests": [r.rendered() for r in requests]}
                line = {
                    "task": prepared.task.name,
                    "sample_id": sample.id,
                    "genre": sample.genre,
                    "turns": len(sample.turns),
                    **asked,
                    "params": requests[0].params.to_dict(),
                    "target": sample.target,
                }
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                count += 1
    click.echo(f"wrote {count} prompts to {output}", err=True)


# --- run -----------------------------------------------------------------------------------------

# Settings a resumed run may change: how requests are made, not what is asked or how it is scored.
OPERATIONAL = ("concurrency", "max_retries", "request_timeout", "max_requests_per_second", "max_error_rate", "workers")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


@cli.command("run")
@click.option("--tasks", "tasks_arg", default=None, help="Comma-separated task names (see `evalkit tasks`).")
@click.option("--model", default=None, help="BACKEND/MODEL: openai/<model>, vllm/<checkpoint> or replay/<outputs.jsonl>.")
@click.option("--base-url", multiple=True, callback=_url_list,
              help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1; repeat it (or separate URLs with "
                   "commas) to spread requests over several servers of one model: one that fails rests a while and "
                   "its requests go to the others.")
@click.option("--model-args", default=None,
              help="Backend parameters: key=value,... (dtype=bfloat16,max_model_len=4096,tensor_parallel_size=2); a value "
                   "may be JSON (hf_overrides={\"rope_theta\":1e6}) and commas inside brackets or quotes do not split; "
                   "or one JSON object, or @FILE (.json/.yaml). vllm/ takes lora=ADAPTER_DIR.")
@data_dir_option
@task_param_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="First N samples of each task.")
@click.option("--num-fewshot", type=click.IntRange(min=0), default=None, help="Override the task's few-shot count.")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="Override the task's output budget.")
@click.option("--temperature", type=click.FloatRange(min=0), default=None, help="Override the task's temperature.")
@click.option("--num-samples", "--num-choices", "num_samples", type=click.IntRange(min=1), default=1, show_default=True,
              help="Answers sampled per sample (pass@k; MT-Bench choices).")
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--run-name", default=None, help="Folder name under --output-dir (default: model and time).")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Requests in flight at once, per endpoint when --base-url names several.")
@click.option("--max-retries", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="Seconds a request may take in all, connecting and reading the whole answer included.")
@click.option("--max-rps", "max_requests_per_second", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Requests per second cap.")
@click.option("--max-error-rate", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="Fail the run when more samples than this share end in a request error.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Scorers run at once (code execution, judge calls); default: the number of cores.")
@click.option("--allow-code-execution", is_flag=True, envvar="EVALKIT_ALLOW_CODE_EXECUTION",
              help="Opt in to running model-generated code in the sandbox (HumanEval). Also EVALKIT_ALLOW_CODE_EXECUTION=1.")
@judge_options
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None,
              help="Continue the run in RUN_DIR with the settings in its run.json.")
@cache_options
@moved("--jaster-dir", "a task parameter: -T jaster_dir=PATH")
@moved("--baseline", "a task parameter: -T baseline=RUN_DIR")
@click.pass_context
def run_command(ctx: click.Context, tasks_arg: str | None, task_params: tuple[str, ...], data_dir: Path | None,
                output_dir: Path, run_name: str | None, resume_dir: Path | None, cache_path: Path | None,
                no_cache: bool, **settings: Any) -> None:
    """Evaluate a model on tasks; writes OUTPUT_DIR/NAME/{run.json,samples.jsonl,summary.csv}."""
    from evalkit.backends.model_args import parse_model_args
    from evalkit.data import resolve_data_dir
    from evalkit.plan import task_params_of
    from evalkit.registry import parse_task_list
    from evalkit.spec import RunSpec
    from evalkit.store import read_manifest

    if resume_dir is not None:
        flags = {p.name: "/".join(p.opts) for p in ctx.command.params}
        given = [flags[name] for name in [*settings, "tasks_arg", "task_params", "data_dir", "run_name"]
                 if name not in OPERATIONAL and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE]
        if given:
            raise EvalkitError(f"--resume takes the run's settings from RUN_DIR/run.json; drop {', '.join(given)} "
                               f"(only {', '.join(flags[name] for name in OPERATIONAL)} may change)")
        stored = read_manifest(resume_dir)[0].spec
        spec = stored.model_copy(update={name: settings[name] for name in OPERATIONAL
                                         if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE})
        run_dir = resume_dir
    else:
        if not tasks_arg or not settings["model"]:
            raise EvalkitError("run needs --tasks and --model (or --resume RUN_DIR)")
        names = parse_task_list(tasks_arg)
        data = resolve_data_dir(data_dir)
        repeats = settings.pop("judge_repeats")
        spec = RunSpec(
            **{**settings, "model_args": parse_model_args(settings["model_args"]),
               "judge_args": judge_arguments(settings["judge_args"], repeats)},
            tasks=names, data_dir=str(data) if data else None, task_params=task_params_of(names, task_params),
        )
        if run_name is not None:
            check_run_name(run_name)
        name = run_name or f"{_slug(spec.model.partition('/')[2] or spec.model)}_{datetime.now():%Y%m%d-%H%M%S}"
        run_dir = output_dir / name
    _run_and_report(spec, run_dir, _cache_file(cache_path, no_cache), resume=resume_dir is not None)


NAME_MAX_BYTES = 255  # the longest file name ext4, XFS, btrfs and tmpfs take


def check_run_name(name: str) -> None:
    """A --run-name that is one folder's name, or a one-line error saying what to give instead."""
    if not name.strip():
        raise EvalkitError("--run-name is empty: give a folder name, or leave --run-name out for one made of the "
                           "model's name and the time")
    if "/" in name or "\0" in name or name in (".", ".."):
        raise EvalkitError(f"--run-name {name!r} must be a plain folder name")
    size = len(name.encode("utf-8"))
    if size > NAME_MAX_BYTES:
        raise EvalkitError(f"--run-name is {len(name)} characters ({size} bytes in UTF-8); a folder name holds at "
                           f"most {NAME_MAX_BYTES} bytes: give a shorter one")


def _interrupted(run_dir: Path) -> str:
    """The interrupted run's state and the command that continues it (the same command would start a new,
    timestamped folder when no --run-name was given)."""
    from evalkit.store import MANIFEST, RunResult

    if not (run_dir / MANIFEST).exists():
        return "interrupted before the run started; nothing was written"
    kept = sum(1 for r in RunResult.read(run_dir).records if r.answered)
    return f"interrupted; {kept} answers kept in {run_dir}; continue with: evalkit run --resume {run_dir}"


def _run_and_report(spec: Any, run_dir: Path, cache: Path | None, resume: bool) -> None:
    from evalkit.console import ProgressReporter, print_results
    from evalkit.errors import Interrupted, RunFailed
    from evalkit.runner import run_evaluation
    from evalkit.store import RunResult

    header = f"[bold]evalkit[/] {spec.model} on {', '.join(spec.tasks)} → {run_dir}"
    try:
        with ProgressReporter(header) as reporter:
            outcome = run_evaluation(spec, run_dir, cache_path=cache, reporter=reporter, resume=resume)
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM (Terminated)
        raise Interrupted(_interrupted(run_dir), getattr(stop, "exit_code", Interrupted.exit_code)) from None
    except RunFailed:
        run = RunResult.read(run_dir)
        print_results(run.summary(), run.manifest)
        raise
    print_results(outcome.summary, outcome.manifest)


# --- score ---------------------------------------------------------------------------------------


@cli.command("score")
@click.argument("run_dir", type=click.Path(path_type=Path))
@task_param_option
@judge_options
@cache_options
@moved("--baseline", "a task parameter: -T baseline=RUN_DIR")
@click.option("--into", "into", type=click.Path(path_type=Path), default=None,
              help="Score a copy of the run written to this new folder, leaving RUN_DIR as it is (e.g. another "
                   "judge's grades of the same answers, for `evalkit judge agreement RUN_DIR INTO`).")
def score_command(run_dir: Path, task_params: tuple[str, ...], judge: str | None, judge_base_url: str | None,
                  judge_args: str | None, judge_repeats: int | None, cache_path: Path | None, no_cache: bool,
                  into: Path | None) -> None:
    """Score a run's stored outputs again, without calling the model (judged tasks call the judge).

    --judge re-judges with another judge (default: the run's own); -T changes a scoring parameter
    (a Jaster metric, an MT-Bench baseline); --into scores a copy and leaves RUN_DIR as it was."""
    from evalkit.console import console, print_results
    from evalkit.rescore import rescore_run

    outcome = rescore_run(
        run_dir, judge=judge, judge_base_url=judge_base_url,
        judge_args=judge_arguments(judge_args, judge_repeats) or None, task_params=task_params,
        cache_path=_cache_file(cache_path, no_cache), note=lambda text: console.print(text, highlight=False, markup=False),
        into=into,
    )
    print_results(outcome.summary, outcome.manifest, requests=False)


# --- show, compare -------------------------------------------------------------------------------

FORMATS = ("table", "md", "csv", "json")
format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                             help="table (the terminal), md (Markdown), csv (long rows), json.")
leaderboard_option = click.option(
    "--leaderboard", "profile_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
    help="A leaderboard profile (YAML: components with task, genre, metric, weight, scale); default: every task's "
         "strict metric, a 1-10 judge score divided by 10.")


exclude_option = click.option(
    "--exclude", type=click.Path(path_type=Path), default=None,
    help="Items to leave out: a contamination scan's report folder or contaminated.jsonl (JSON lines with task "
         "and sample_id).")


@cli.command("show")
@click.argument("run_dir", type=click.Path(path_type=Path))
@format_option
@leaderboard_option
@click.option("--exclude", type=click.Path(path_type=Path), default=None,
              help="A contamination scan's report folder or contaminated.jsonl: every metric on all items and on "
                   "the clean ones, side by side, with the count removed.")
def show_command(run_dir: Path, fmt: str, profile_path: Path | None, exclude: Path | None) -> None:
    """A run's tables: per task, genre and metric with n; the tasks' own tables; a leaderboard score."""
    from evalkit.show import show

    click.echo(show(run_dir, fmt, profile_path, exclude), nl=False)


@cli.command("compare")
@click.argument("run_dirs", nargs=-1, type=click.Path(path_type=Path))
@format_option
@click.option("--all-metrics", is_flag=True, help="Every metric of every task (default: strict, lenient, "
                                                   "format violation, errors).")
@exclude_option
def compare_command(run_dirs: tuple[Path, ...], fmt: str, all_metrics: bool, exclude: Path | None) -> None:
    """Runs side by side against the first: deltas, confidence intervals, paired tests, flipped samples."""
    from evalkit.show import compare

    if len(run_dirs) < 2:
        raise EvalkitError("compare needs at least two runs: evalkit compare RUN_A RUN_B [RUN_C ...]")
    click.echo(compare(list(run_dirs), fmt, all_metrics, exclude), nl=False)


@cli.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The HTML file.")
@click.option("--title", default=None, help="The report's title (default: the runs' names).")
@leaderboard_option
@click.option("--arena", "arena_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="An arena's votes (evalkit arena ... --db): its ranking becomes a section of the report.")
@click.option("--exclude", type=click.Path(path_type=Path), default=None,
              help="A contamination scan's report folder or contaminated.jsonl: a section with every metric on all "
                   "items and on the clean ones, side by side.")
@click.option("--judge-agreement", is_flag=True,
              help="A section on how far each run's judge agrees with the first run's on the answers both judged.")
def report_command(run_dirs: tuple[Path, ...], output: Path, title: str | None, profile_path: Path | None,
                   arena_path: Path | None, exclude: Path | None, judge_agreement: bool) -> None:
    """One self-contained HTML file comparing runs: tables, charts and every sample; it works offline."""
    from evalkit.console import console
    from evalkit.leaderboard import load_profile
    from evalkit.report import write_report

    size = write_report(list(run_dirs), output, title, load_profile(profile_path) if profile_path else None,
                        arena_path, exclude, judge_agreement)
    console.print(f"wrote {output} ({size / 1e6:.1f} MB)", highlight=False)


@cli.command("gate")
@click.option("--baseline", "baseline_dir", type=click.Path(path_type=Path), required=True, help="The run to hold to.")
@click.option("--candidate", "candidate_dir", type=click.Path(path_type=Path), required=True, help="The run to check.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Rules (YAML); default: no significant drop of any task's strict metric in any genre, format "
                   "violations up by at most 0.05, errors by at most 0.02.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a Markdown summary (also appended to $GITHUB_STEP_SUMMARY when it is set).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write JUnit XML, one test case per rule.")
@exclude_option
def gate_command(baseline_dir: Path, candidate_dir: Path, rules_path: Path | None, markdown_path: Path | None,
                 junit_path: Path | None, exclude: Path | None) -> None:
    """Check a candidate run against a baseline for CI: exit 0 when every rule holds, 1 on a regression, 2 on bad input."""
    from evalkit.console import stdout
    from evalkit.gate import DEFAULT_RULES, check, console_report, junit, load_rules, markdown
    from evalkit.show import clean_runs
    from evalkit.store import RunResult

    rules = load_rules(rules_path) if rules_path else DEFAULT_RULES
    (baseline, candidate), excluded = clean_runs([RunResult.read(baseline_dir), RunResult.read(candidate_dir)], exclude)
    comparison, results = check(rules, baseline, candidate)
    summary = "".join(f"> {line}\n" for line in excluded) + ("\n" if excluded else "") + markdown(results, comparison)
    targets = [markdown_path] if markdown_path else []
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        targets.append(Path(os.environ["GITHUB_STEP_SUMMARY"]))
    for target in targets:
        with target.open("a" if target != markdown_path else "w", encoding="utf-8") as fh:
            fh.write(summary)
    if junit_path:
        junit_path.write_text(junit(results), encoding="utf-8")
    for line in excluded:
        stdout.print(line, highlight=False, markup=False)
    stdout.print(console_report(results), highlight=False)
    if any(not r.passed for r in results):
        raise click.exceptions.Exit(1)


# --- commands from plugins -----------------------------------------------------------------------


@cli.group("import")
def import_group() -> None:
    """Make evalkit runs from other harnesses' files."""


@cli.group("export")
def export_group() -> None:
    """Write evalkit runs in other harnesses' formats."""


def add_plugin_commands() -> None:
    """Attach every command in the `evalkit.commands` group (a plugin's command module imports only click)."""
    groups = {"import": import_group, "export": export_group}
    for ep in entry_points_of(COMMANDS_GROUP).values():
        parent, _, name = ep.name.rpartition(".")
        if parent and parent not in groups:
            click.echo(f"warning: command plugin {ep.name!r}: evalkit has no {parent!r} command to put it under", err=True)
            continue
        try:
            command = ep.load()
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            click.echo(f"warning: command plugin {ep.name!r} ({ep.value}) failed to load: {exc}", err=True)
            continue
        (groups[parent] if parent else cli).add_command(command, name)


add_plugin_commands()


def main() -> None:
    cli.main()


if __name__ == "__main__":
    main()
