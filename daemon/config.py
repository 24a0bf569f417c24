"""Typed configuration read from TOML; every problem becomes one ConfigError line.

Relative paths resolve against the config file's folder, so a checkout's
config.example.toml works from any working directory.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from daemon.domain import is_splunk_version
from daemon.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/splunk-autodoc/config.toml")
ENV_CONFIG = "AUTODOC_CONFIG"
ENV_DATABASE_URL = "AUTODOC_DATABASE_URL"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///var/autodoc.db"


@dataclass(frozen=True)
class InboxConfig:
    path: Path = Path("var/inbox")
    failed_path: Path = Path("var/failed")
    settle_seconds: float = 2.0
    rescan_seconds: float = 60.0
    max_file_bytes: int = 10 * 1024**3
    # "polling" for NFS/CIFS, where inotify sees no writes made by other hosts.
    observer: Literal["auto", "inotify", "polling"] = "auto"


@dataclass(frozen=True)
class S3Config:
    bucket: str = "splunk-autodoc"
    prefix: str = ""
    endpoint_url: str = ""
    region: str = "us-east-1"
    # botocore's default request checksums break some S3-compatible servers.
    checksum_mode: Literal["when_required", "when_supported"] = "when_required"
    multipart_threshold_bytes: int = 64 * 1024**2
    multipart_chunk_bytes: int = 64 * 1024**2
    # "checksum": each PUT carries Content-MD5 and x-amz-checksum-sha256 (each multipart part
    # its SHA-256), which the store checks; "head": for a store that ignores them, the size
    # is checked by a HEAD after each upload.
    verify: Literal["checksum", "head"] = "checksum"
    # Uploads of a batch at once, each on its own keep-alive connection.
    max_concurrency: int = 8


@dataclass(frozen=True)
class StorageConfig:
    backend: Literal["local", "s3"] = "local"
    path: Path = Path("var/blobs")
    s3: S3Config = field(default_factory=S3Config)


@dataclass(frozen=True)
class DaemonConfig:
    workers: int = 2
    # On SIGTERM, how long files already being ingested may take to finish.
    stop_timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ParseConfig:
    # Runs parsed at once by the daemon, in threads of their own: a big parse never holds up
    # ingestion. 0: this daemon does not parse (another one sharing the database does).
    workers: int = 1
    # Limits on what one bundle may hold (zip bombs, tar bombs, runaway members).
    max_members: int = 200_000
    max_total_bytes: int = 2 * 1024**3  # uncompressed, every member counted
    max_member_bytes: int = 64 * 1024**2  # one .conf or .meta file read
    max_ratio: float = 1000.0  # uncompressed / compressed, checked past the first MiB


@dataclass(frozen=True)
class ResolveConfig:
    # After a ds_etc, instance_etc or inventory run completes the daemon resolves the estate
    # once no further such run has completed for this long (one resolution for a burst).
    debounce_seconds: float = 5.0
    # The deployment servers' version for the version-dependent rules (RESOLVER.md §3), when
    # their etc/splunk.version is missing or wrong; "" reads it from each bundle.
    ds_version: str = ""


@dataclass(frozen=True)
class DocsConfig:
    # The documentation site (DOCS.md): each build in <path>/<resolution id>/, <path>/latest
    # pointing at the newest; builds beyond `keep` are removed.
    path: Path = Path("var/docs")
    keep: int = 20


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = ""


@dataclass(frozen=True)
class Config:
    source: Path
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    inbox: InboxConfig = field(default_factory=InboxConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    parse: ParseConfig = field(default_factory=ParseConfig)
    resolve: ResolveConfig = field(default_factory=ResolveConfig)
    docs: DocsConfig = field(default_factory=DocsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)


# Keys that must be > 0 rather than >= 0.
_POSITIVE = {
    "rescan_seconds",
    "max_file_bytes",
    "workers",
    "max_members",
    "max_total_bytes",
    "max_member_bytes",
    "max_ratio",
    "multipart_threshold_bytes",
    "multipart_chunk_bytes",
    "max_concurrency",
    "keep",
}
_S3_MIN_PART = 5 * 1024**2


def resolve_config_path(cli_path: str | None) -> Path:
    """--config wins over AUTODOC_CONFIG, which wins over the system-wide default."""
    if cli_path:
        return Path(cli_path)
    if env := os.environ.get(ENV_CONFIG):
        return Path(env)
    return DEFAULT_CONFIG_PATH


def load_config(path: Path) -> Config:
    """Read, validate and resolve the config file at `path`."""
    path = path.expanduser().absolute()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        hint = "" if path != DEFAULT_CONFIG_PATH else f" (pass --config PATH or set {ENV_CONFIG})"
        raise ConfigError(f"config file {path} does not exist{hint}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None
    base = path.parent
    sections = _build(Config, data, path, prefix="", skip={"source"})
    config = Config(source=path, **sections)
    return _resolve(config, base, path)


def _build(
    cls: type,
    data: dict[str, Any],
    path: Path,
    prefix: str,
    skip: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in skip}
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"config file {path}: unknown key '{where}' (known here: {known})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: '{where}' must be a table [{where}]")
            assert isinstance(hint, type)
            values[key] = hint(**_build(hint, value, path, prefix=f"{where}."))
        else:
            values[key] = _coerce(hint, value, path, where)
    return values


def _coerce(hint: Any, value: Any, path: Path, where: str) -> Any:
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"config file {path}: '{where}' must be {expected}, got {value!r}")

    name = where.rsplit(".", 1)[-1]
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise bad("one of " + ", ".join(repr(c) for c in choices))
        return value
    if hint is Path or hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return Path(value) if hint is Path else value
    if hint is int or hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        if hint is int and not isinstance(value, int):
            raise bad("a whole number")
        positive = name in _POSITIVE and where != "parse.workers"  # 0: this daemon never parses
        if value < 0 or (positive and value == 0):
            raise bad("greater than zero" if positive else "zero or more")
        if name.startswith("multipart_") and value < _S3_MIN_PART:
            raise bad(f"at least {_S3_MIN_PART} (S3's minimum part size)")
        return hint(value)
    raise AssertionError(f"unhandled config type {hint!r}")  # pragma: no cover


def _resolve(config: Config, base: Path, path: Path) -> Config:
    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    def error(key: str, problem: str) -> ConfigError:
        return ConfigError(f"config file {path}: '{key}' {problem}")

    env_url = os.environ.get(ENV_DATABASE_URL)
    where = f"{ENV_DATABASE_URL} (overrides config file {path})" if env_url else str(path)
    url = _resolve_database_url(env_url or config.database.url, base, where)
    inbox = dataclasses.replace(
        config.inbox,
        path=absolute(config.inbox.path),
        failed_path=absolute(config.inbox.failed_path),
    )
    s3 = config.storage.s3
    if s3.prefix and not s3.prefix.endswith("/"):
        s3 = dataclasses.replace(s3, prefix=s3.prefix + "/")  # "autodoc" means "autodoc/..."
    storage = dataclasses.replace(config.storage, path=absolute(config.storage.path), s3=s3)
    if storage.backend == "s3" and not s3.bucket:
        raise error("storage.s3.bucket", "must not be empty")
    if s3.endpoint_url:
        parts = urlsplit(s3.endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise error(
                "storage.s3.endpoint_url",
                f"must be an http:// or https:// URL, got {s3.endpoint_url!r}",
            )
    if config.resolve.ds_version and not is_splunk_version(config.resolve.ds_version):
        raise error(
            "resolve.ds_version",
            f"must be a Splunk version like 9.4.3, got {config.resolve.ds_version!r}",
        )
    inbox_root = inbox.path.resolve()
    if _inside(inbox.failed_path, inbox_root):
        raise error("inbox.failed_path", "must lie outside 'inbox.path'")
    if storage.backend == "local" and (
        _inside(storage.path, inbox_root) or _inside(inbox_root, storage.path.resolve())
    ):
        raise error("storage.path", "must not overlap 'inbox.path'")
    docs = dataclasses.replace(config.docs, path=absolute(config.docs.path))
    return dataclasses.replace(
        config, database=DatabaseConfig(url=url), inbox=inbox, storage=storage, docs=docs
    )


def _inside(path: Path, folder: Path) -> bool:
    path = path.resolve()
    return path == folder or path.is_relative_to(folder)


def _resolve_database_url(url: str, base: Path, where: str) -> str:
    def error(problem: str) -> ConfigError:
        if where.startswith(ENV_DATABASE_URL):
            return ConfigError(f"{where}: {problem}")
        return ConfigError(f"config file {where}: 'database.url' {problem}")

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise error(f"is not a database URL: {url!r}") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise error(f"must be sqlite:/// or postgresql+psycopg://, got {backend!r}")
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database)
        if not db.is_absolute():
            parsed = parsed.set(database=str(base / db))
    return parsed.render_as_string(hide_password=False)
