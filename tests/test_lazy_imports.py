"""Heavy imports are lazy: `evalkit --help` never imports vllm, torch or datasets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli_process import EVALKIT, HANG_GUARD_S, evalkit_env

HEAVY = ("vllm", "torch", "datasets", "lm_eval")

HELP_IN_PROCESS = """
import json, sys
from evalkit.cli import cli
try:
    cli.main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
"""


def imported_top_level_modules(importtime_log: str) -> set[str]:
    """Top-level package names from `python -X importtime` output (`import time: us | us | name`)."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().partition(".")[0])
    return names


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]], ids=" ".join)
def test_help_from_the_installed_command_imports_nothing_heavy(args, tmp_path):
    """The console script, with Python reporting every import it makes."""
    result = subprocess.run([*EVALKIT, *args], cwd=tmp_path, env=evalkit_env(PYTHONPROFILEIMPORTTIME="1"),
                            capture_output=True, text=True, timeout=HANG_GUARD_S)

    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    imported = imported_top_level_modules(result.stderr)
    assert "click" in imported  # the import log was really captured
    assert imported.isdisjoint(HEAVY), sorted(imported & set(HEAVY))


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]], ids=" ".join)
def test_importing_the_cli_and_asking_for_help_imports_nothing_heavy(args, tmp_path):
    """`import evalkit.cli` and `--help` in one interpreter, then a look at sys.modules."""
    result = subprocess.run([sys.executable, "-c", HELP_IN_PROCESS, *args], cwd=tmp_path, env=evalkit_env(),
                            capture_output=True, text=True, timeout=HANG_GUARD_S)

    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout.splitlines()[-1]))
    assert "evalkit" in modules
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))
