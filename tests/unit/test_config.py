from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import DEFAULT_CONFIG_PATH, load_config, resolve_config_path
from daemon.errors import ConfigError
from tests.conftest import write_config


def test_example_config_loads_with_paths_under_its_own_folder() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    config = load_config(example)
    root = example.parent
    assert config.inbox.path == root / "var/inbox"
    assert config.inbox.failed_path == root / "var/failed"
    assert config.storage.path == root / "var/blobs"
    assert config.database.url == f"sqlite:///{root / 'var/autodoc.db'}"
    assert config.storage.backend == "local"
    assert config.storage.s3.checksum_mode == "when_required"
    assert (config.storage.s3.verify, config.storage.s3.max_concurrency) == ("checksum", 8)
    assert (config.docs.path, config.docs.keep) == (root / "var/docs", 20)


def test_relative_paths_resolve_against_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(tmp_path)
    monkeypatch.chdir("/")
    config = load_config(path)
    assert config.inbox.path == tmp_path / "var/inbox"


def test_database_url_env_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTODOC_DATABASE_URL", "postgresql://u@127.0.0.1/x")
    config = load_config(write_config(tmp_path))
    assert config.database.url == "postgresql+psycopg://u@127.0.0.1/x"


def test_config_path_prefers_flag_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTODOC_CONFIG", "/from/env.toml")
    assert resolve_config_path("/from/flag.toml") == Path("/from/flag.toml")
    assert resolve_config_path(None) == Path("/from/env.toml")
    monkeypatch.delenv("AUTODOC_CONFIG")
    assert resolve_config_path(None) == DEFAULT_CONFIG_PATH


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[storage]\nbackend = "ftp"\n', "'storage.backend' must be one of 'local', 's3'"),
        ("[inbox]\nsettle_seconds = -1\n", "'inbox.settle_seconds' must be zero or more"),
        ("[daemon]\nworkers = 0\n", "'daemon.workers' must be greater than zero"),
        ("[daemon]\nworkers = 1.5\n", "'daemon.workers' must be a whole number"),
        ("[daemon]\nthreads = 3\n", "unknown key 'daemon.threads'"),
        ("[colour]\nx = 1\n", "unknown key 'colour'"),
        ("[docs]\nkeep = 0\n", "'docs.keep' must be greater than zero"),
        ("[inbox]\npath = 3\n", "'inbox.path' must be a string"),
        ('[logging]\nformat = "xml"\n', "'logging.format' must be one of"),
        ("[storage.s3]\nmultipart_chunk_bytes = 1024\n", "S3's minimum part size"),
        ('[storage.s3]\nverify = "none"\n', "'storage.s3.verify' must be one of"),
        ("[storage.s3]\nmax_concurrency = 0\n", "'storage.s3.max_concurrency' must be greater"),
        ('[database]\nurl = "mysql://x/y"\n', "'database.url' must be sqlite"),
        ('[inbox]\nfailed_path = "in/failed"\npath = "in"\n', "must lie outside"),
        ("[inbox\n", "invalid TOML"),
        ('[storage.s3]\nendpoint_url = "not a url"\n', "must be an http:// or https://"),
        ('[storage]\npath = "in/blobs"\n[inbox]\npath = "in"\n', "must not overlap"),
    ],
)
def test_invalid_config_is_one_line_naming_file_key_and_problem(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = info.value.message
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_s3_prefix_gets_a_trailing_slash(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, '[storage.s3]\nprefix = "autodoc"\n'))
    assert config.storage.s3.prefix == "autodoc/"


def test_bad_database_url_from_the_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTODOC_DATABASE_URL", "mysql://x/y")
    with pytest.raises(ConfigError, match=r"^AUTODOC_DATABASE_URL .*must be sqlite"):
        load_config(write_config(tmp_path))
