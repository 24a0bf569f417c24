"""Commands against a test's database as a user runs them: every command of a test in one
child interpreter (its start-up costs ~0.7 s), each through daemon.cli.main with its own
stdout and stderr. Any exit code is returned; a traceback shows in stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[1]

_DRIVER = """
import contextlib, io, json, sys, traceback
from daemon.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: a usage error
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = "raised"
    results.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def run_commands(database_url: str, folder: Path, *commands: tuple[str, ...]) -> list[Any]:
    """[{code, stdout, stderr}] of each `autodoc --config C COMMAND...`, C a config in
    `folder` (its var/ beside it) on that database."""
    folder.mkdir(parents=True, exist_ok=True)
    config_file = str(write_config(folder, database_url=database_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTODOC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _DRIVER,
            json.dumps([["--config", config_file, *command] for command in commands]),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[Any] = json.loads(done.stdout)
    for command, result in zip(commands, results, strict=True):
        assert "Traceback" not in result["stderr"], (command[:3], result["stderr"][-2000:])
    return results


def outputs(database_url: str, folder: Path, *commands: tuple[str, ...]) -> list[str]:
    """The stdout of each command; every one must exit 0."""
    results = run_commands(database_url, folder, *commands)
    for command, result in zip(commands, results, strict=True):
        assert result["code"] == 0, (command, result["stderr"])
    return [result["stdout"] for result in results]


def json_outputs(database_url: str, folder: Path, *commands: tuple[str, ...]) -> list[Any]:
    """The parsed --json output of each command; every one must exit 0."""
    return [json.loads(out) for out in outputs(database_url, folder, *commands)]
