"""Schema migrations (Alembic, configured in code) and `db check`.

The migration scripts live in the checkout's top-level `migrations/` and ship in the wheel as
`daemon/migrations`; both places are looked up so the commands work installed or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Column, Dialect, Engine, Index, Table, inspect
from sqlalchemy.engine.reflection import Inspector
from sqlalchemy.types import TypeEngine

from daemon.database import translate_errors
from daemon.errors import ConfigError
from daemon.models import Base


def migrations_dir() -> Path:
    package = Path(__file__).resolve().parent
    for candidate in (package / "migrations", package.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise ConfigError(f"migration scripts not found next to {package}")  # broken install


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation would choke on '%' in passwords.
    cfg.set_main_option(
        "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
    )
    cfg.attributes["engine"] = engine
    return cfg


def _run(func: object, *args: object) -> None:
    try:
        with translate_errors():
            func(*args)  # type: ignore[operator]
    except CommandError as exc:
        raise ConfigError(str(exc)) from None


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(command.upgrade, alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    _run(command.downgrade, alembic_config(engine), revision)


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with translate_errors(), engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def history(engine: Engine) -> Iterator[tuple[str, str | None, str]]:
    """(revision, down_revision, first docstring line), oldest first."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    revisions = list(script.walk_revisions())
    for rev in reversed(revisions):
        down = rev.down_revision if isinstance(rev.down_revision, str | None) else None
        yield rev.revision, down, (rev.doc or "").strip().splitlines()[0] if rev.doc else ""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def check(engine: Engine) -> list[Check]:
    """What the schema document promises: connectivity, tables, columns, FKs, indexes, head."""
    results: list[Check] = []
    try:
        with translate_errors(), engine.connect() as connection:
            results.append(Check("connectivity", True, engine.url.render_as_string()))
            inspector = inspect(connection)
            tables = set(inspector.get_table_names())
            for table in Base.metadata.sorted_tables:
                if table.name not in tables:
                    results.append(Check(f"table {table.name}", False, "missing"))
                    continue
                results.append(Check(f"table {table.name}", True))
                results.extend(_check_columns(inspector, table))
                results.extend(_check_foreign_keys(inspector, table))
                results.extend(_check_indexes(inspector, table))
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - reported as a failed check, never a traceback
        results.append(Check("connectivity", False, str(exc).splitlines()[0]))
        return results
    head = head_revision(engine)
    results.append(Check("revision at head", current == head, f"current {current}, head {head}"))
    return results


def _type_name(sql_type: TypeEngine[object], dialect: Dialect) -> str:
    impl = getattr(sql_type, "impl", sql_type)  # a TypeDecorator is stored as its impl
    text = str(impl.compile(dialect=dialect)).upper()
    # Dialects spell the same type differently; compare the family and the length ...
    aliases = {
        "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
        "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
        "DATETIME": "TIMESTAMP",
        "CHARACTER VARYING": "VARCHAR",
    }
    for long, short in aliases.items():
        text = text.replace(long, short)
    # ... and the time zone, which SQLite does not keep.
    if dialect.name == "postgresql" and getattr(impl, "timezone", False):
        text += " WITH TIME ZONE"
    return text


def _check_columns(inspector: Inspector, table: Table) -> Iterator[Check]:
    actual = {c["name"]: c for c in inspector.get_columns(table.name)}
    for column in table.columns:
        name = f"column {table.name}.{column.name}"
        found = actual.pop(column.name, None)
        if found is None:
            yield Check(name, False, "missing")
            continue
        want = _type_name(column.type, inspector.bind.dialect)
        got = _type_name(found["type"], inspector.bind.dialect)
        problems = []
        if want != got:
            problems.append(f"type {got}, expected {want}")
        if bool(found["nullable"]) != bool(column.nullable):
            problems.append(f"nullable={found['nullable']}, expected {column.nullable}")
        yield Check(name, not problems, "; ".join(problems) or want)
    for extra in actual:
        yield Check(f"column {table.name}.{extra}", False, "not in the schema")


def _check_foreign_keys(inspector: Inspector, table: Table) -> Iterator[Check]:
    actual = inspector.get_foreign_keys(table.name)
    for fk in table.foreign_keys:
        name = (
            f"foreign key {table.name}.{fk.parent.name} -> {fk.column.table.name}.{fk.column.name}"
        )
        match = [
            a
            for a in actual
            if a["constrained_columns"] == [fk.parent.name]
            and a["referred_table"] == fk.column.table.name
            and a["referred_columns"] == [fk.column.name]
        ]
        if not match:
            yield Check(name, False, "missing")
            continue
        ondelete = (match[0].get("options") or {}).get("ondelete")
        ok = (ondelete or "").upper() == (fk.ondelete or "").upper()
        yield Check(
            name,
            ok,
            f"ON DELETE {ondelete}" if ok else f"ON DELETE {ondelete}, expected {fk.ondelete}",
        )


def applies_to(index: Index, dialect: Dialect) -> bool:
    """False for an index declared `.ddl_if(dialect=...)` for other dialects (the GIN index on
    stanzas.settings exists on PostgreSQL only). For autogenerate's `include_object` too."""
    rule = index._ddl_if  # SQLAlchemy keeps the rule here and nowhere public
    if rule is None or rule.dialect is None:
        return True
    names = (rule.dialect,) if isinstance(rule.dialect, str) else tuple(rule.dialect)
    return dialect.name in names


def _index_method(index: Index) -> str:
    return str(index.dialect_options["postgresql"].get("using") or "btree").lower()


def _index_elements(index: Index) -> list[str]:
    """What an index is on: column names, and expressions (`md5("name")`) as written."""
    return [
        element.name if isinstance(element, Column) else _spelled(str(element))
        for element in index.expressions
    ]


def _spelled(element: str | None) -> str:
    """An index element as compared: PostgreSQL reports `md5(index)` for `md5("index")`."""
    return (element or "").replace('"', "").replace(" ", "").lower()


def _check_indexes(inspector: Inspector, table: Table) -> Iterator[Check]:
    dialect = inspector.bind.dialect
    actual = {i["name"]: i for i in inspector.get_indexes(table.name)}
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        if not applies_to(index, dialect):
            continue
        name = f"index {index.name}"
        found = actual.get(str(index.name))
        want = _index_elements(index)
        if found is None:
            yield Check(name, False, "missing")
            continue
        problems = []
        columns = found["column_names"]
        expressions = found.get("expressions") or columns
        have = [
            c if c is not None else _spelled(e) for c, e in zip(columns, expressions, strict=True)
        ]
        if have != want:
            problems.append(f"on {have}, expected {want}")
        if bool(found["unique"]) != bool(index.unique):
            problems.append(f"unique={bool(found['unique'])}, expected {bool(index.unique)}")
        detail = f"on {', '.join(want)}"
        if dialect.name == "postgresql":
            options = found.get("dialect_options", {})
            method = str(options.get("postgresql_using") or "btree")
            if method.lower() != _index_method(index):
                problems.append(f"using {method}, expected {_index_method(index)}")
            ops = dict(options.get("postgresql_ops") or {})
            want_ops = dict(index.dialect_options["postgresql"].get("ops") or {})
            if ops != want_ops:
                problems.append(f"operator classes {ops}, expected {want_ops}")
            detail += f" using {_index_method(index)}"
            detail += "".join(f" ({op})" for op in want_ops.values())
        yield Check(name, not problems, "; ".join(problems) or detail)
