"""Alembic environment. The URL comes from the daemon's typed config (daemon.migrate builds the
alembic Config in code), never from an alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Index, text

from daemon.database import make_engine
from daemon.migrate import applies_to
from daemon.models import Base

# Any constant works; it only has to be the same for every splunk-autodoc host.
ADVISORY_LOCK_KEY = 0x5A17D0C

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or make_engine(
        config.get_main_option("sqlalchemy.url") or ""
    )
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # Two hosts starting at once must not both migrate: the second waits here (for as
            # long as the first takes), then finds the work done. Only then is lock_timeout
            # set, so that a migration does not queue forever behind a long-running query.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.execute(text("SET lock_timeout = '20s'"))
            connection.commit()
        try:
            dialect = connection.dialect

            def include_object(
                item: object, name: str | None, kind: str, reflected: bool, compare_to: object
            ) -> bool:
                # An index for one database only (the GIN on stanzas.settings) is not drift
                # on the other.
                if kind == "index" and not reflected and isinstance(item, Index):
                    return applies_to(item, dialect)
                return True

            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=not postgres,
                compare_type=True,
                include_object=include_object,
            )
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            if postgres:
                connection.rollback()
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
