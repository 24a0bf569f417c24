"""`autodoc conf parse`: JSON and listing output, per-file errors, usage errors, --help, no
config file needed, and a reader that leaves early."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import AUTODOC, TIMEOUT, base_env, one_line_error

CONF = b"""\
# global settings belong to [default]
maxKBps = 0

[monitor:///var/log/messages]
index = os
sourcetype = syslog
index = linux

[tcpout]
defaultGroup = primary
this line has no equals sign

[search [with brackets]]
search = index=main \\
| stats count
"""


def autodoc(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`autodoc` with no AUTODOC_* variable at all: no config file anywhere."""
    return subprocess.run(
        [*AUTODOC, *args],
        cwd=cwd,
        env=env or base_env(),
        capture_output=True,
        text=True,
        errors="replace",
        timeout=TIMEOUT,
        check=False,
    )


def parsed_json(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


@pytest.fixture
def confs(tmp_path: Path) -> Path:
    (tmp_path / "inputs.conf").write_bytes(CONF)
    (tmp_path / "latin1.conf").write_bytes(b"[macro]\ndefinition = caf\xe9\n")
    (tmp_path / "empty.conf").write_bytes(b"")
    return tmp_path


def test_json_lists_stanzas_effective_values_and_findings_per_file(confs: Path) -> None:
    result = autodoc(
        "conf", "parse", "--json", "inputs.conf", "latin1.conf", "empty.conf", cwd=confs
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    inputs, latin1, empty = parsed_json(result)
    assert inputs == {
        "path": "inputs.conf",
        "encoding": "utf-8",
        "stanzas": [
            {"name": "default", "line": 0, "settings": {"maxKBps": "0"}},
            {
                "name": "monitor:///var/log/messages",
                "line": 4,
                "settings": {"index": "linux", "sourcetype": "syslog"},
            },
            {"name": "tcpout", "line": 9, "settings": {"defaultGroup": "primary"}},
            {
                "name": "search [with brackets]",
                "line": 13,
                "settings": {"search": "index=main \n| stats count"},
            },
        ],
        "findings": [
            {
                "line": 11,
                "code": "no-equals",
                "message": "neither a setting, a header nor a comment",
            }
        ],
    }
    assert latin1["encoding"] == "latin-1"
    assert latin1["stanzas"] == [{"name": "macro", "line": 1, "settings": {"definition": "café"}}]
    assert [f["code"] for f in latin1["findings"]] == ["latin1-fallback"]
    assert empty == {"path": "empty.conf", "encoding": "utf-8", "stanzas": [], "findings": []}


def test_the_listing_shows_each_file_its_stanzas_and_its_findings(confs: Path) -> None:
    result = autodoc("conf", "parse", "inputs.conf", "latin1.conf", cwd=confs)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "# inputs.conf (utf-8)\n"
        "[default]\n"
        "maxKBps = 0\n"
        "[monitor:///var/log/messages]\n"
        "index = linux\n"
        "sourcetype = syslog\n"
        "[tcpout]\n"
        "defaultGroup = primary\n"
        "[search [with brackets]]\n"
        "search = index=main \\\n"
        "| stats count\n"
        "inputs.conf:11: no-equals: neither a setting, a header nor a comment\n"
        "\n"
        "# latin1.conf (latin-1)\n"
        "[macro]\n"
        "definition = café\n"
        "latin1.conf:2: latin1-fallback: not valid UTF-8 (byte 0xe9): read as Latin-1\n"
    )


def test_unreadable_files_get_one_line_each_and_the_rest_is_still_parsed(confs: Path) -> None:
    os.mkfifo(confs / "fifo.conf")  # must be refused, not block the command
    (confs / "folder.conf").mkdir()
    result = autodoc(
        "conf",
        "parse",
        "--json",
        "missing.conf",
        "inputs.conf",
        "fifo.conf",
        "folder.conf",
        "latin1.conf",
        cwd=confs,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "autodoc: missing.conf: No such file or directory",
        "autodoc: fifo.conf: not a regular file",
        "autodoc: folder.conf: is a directory",
    ]
    assert [f["path"] for f in parsed_json(result)] == ["inputs.conf", "latin1.conf"]


def test_only_unreadable_files_still_print_an_empty_json_array(confs: Path) -> None:
    result = autodoc("conf", "parse", "--json", "missing.conf", cwd=confs)
    assert result.returncode == 1
    assert one_line_error(result) == "autodoc: missing.conf: No such file or directory"
    assert parsed_json(result) == []


def test_it_needs_no_config_file_even_when_one_is_named(confs: Path) -> None:
    missing = str(confs / "no-such-config.toml")
    for args, env in [
        (["conf", "parse", "inputs.conf"], base_env(AUTODOC_CONFIG=missing)),
        (["--config", missing, "conf", "parse", "inputs.conf"], None),
        (["conf", "parse", "--config", missing, "inputs.conf"], None),
    ]:
        result = autodoc(*args, cwd=confs, env=env)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stdout.startswith("# inputs.conf (utf-8)\n"), args


def test_file_names_that_are_not_utf8_or_hold_line_breaks_are_shown_escaped(
    confs: Path,
) -> None:
    name = os.fsdecode(b"caf\xe9.conf")
    (confs / name).write_bytes(b"[a]\nk = v\n")
    result = autodoc("conf", "parse", "--json", name, "missing\udcff\n.conf", cwd=confs)
    assert result.returncode == 1
    assert one_line_error(result) == "autodoc: missing\\xff\\n.conf: No such file or directory"
    assert parsed_json(result)[0]["path"] == "caf\\xe9.conf"
    listing = autodoc("conf", "parse", name, cwd=confs)
    assert listing.stdout.splitlines()[0] == "# caf\\xe9.conf (utf-8)"


def test_usage_errors_exit_2_with_usage_and_no_traceback(tmp_path: Path) -> None:
    for args in (["conf"], ["conf", "parse"], ["conf", "parse", "--bogus", "x"], ["conf", "x"]):
        result = autodoc(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert "usage: autodoc" in result.stderr, args
        assert "Traceback" not in result.stderr


def test_help_explains_the_command_and_lists_it(tmp_path: Path) -> None:
    top = autodoc("--help", cwd=tmp_path)
    conf = autodoc("conf", "--help", cwd=tmp_path)
    parse = autodoc("conf", "parse", "--help", cwd=tmp_path)
    for result in (top, conf, parse):
        assert result.returncode == 0, result.stderr
    assert any(line.split()[:1] == ["conf"] for line in top.stdout.splitlines())
    assert conf.stdout.startswith("usage: autodoc conf")
    assert any(line.split()[:1] == ["parse"] for line in conf.stdout.splitlines())
    assert parse.stdout.startswith("usage: autodoc conf parse")
    for words in ("--json", "FILE", "no config file", "findings", "exit"):
        assert words in parse.stdout, words


def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path: Path) -> None:
    big = tmp_path / "big.conf"
    big.write_text("".join(f"[s{i}]\nkey = {'v' * 200}\n" for i in range(20_000)))
    proc = subprocess.Popen(
        [*AUTODOC, "conf", "parse", "--json", str(big), str(big)],
        cwd=tmp_path,
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.read(100).startswith(b"[\n{")
    proc.stdout.close()
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0
    assert err == b""


def test_many_files_are_parsed_in_parallel_yet_printed_in_the_order_given(
    tmp_path: Path,
) -> None:
    """Past PARALLEL_MIN_FILES the files go to a process pool: the same output, file for
    file, as each parsed alone, and a missing one still reported (exit 1)."""
    names = []
    for i in range(100):
        path = tmp_path / f"f{i:03d}.conf"
        path.write_bytes(b"[s%d]\nkey = %d\njunk line\n" % (i, i))
        names.append(path.name)
    names.insert(50, "missing.conf")

    many = autodoc("conf", "parse", "--json", *names, cwd=tmp_path)
    one = [parsed_json(autodoc("conf", "parse", "--json", n, cwd=tmp_path))[0] for n in names[:3]]

    assert many.returncode == 1
    assert "missing.conf" in one_line_error(many)
    files = parsed_json(many)
    assert [f["path"] for f in files] == [n for n in names if n != "missing.conf"]
    assert files[:3] == one
    assert files[99]["stanzas"] == [{"name": "s99", "line": 1, "settings": {"key": "99"}}]
