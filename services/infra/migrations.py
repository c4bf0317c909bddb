"""Schema changes of a service's read-model database, by Alembic migrations run at start-up.

Every table a service keeps in its read-model database (the records: subscriptions,
deliveries, deadlines; the projections; the consumers' positions and applied ids) is
created and changed only by the revisions in ``services/<service>/migrations/`` (one
Alembic history per service, version table ``alembic_version_<service>``). The service
upgrades to the newest revision before anything reads or writes those tables; replicas
starting together on PostgreSQL take turns under an advisory lock, so only the first one
changes anything.

The first revision of each service (``0001``) is the schema as it was when tables were
still made with ``create_all``: it creates each table and index only if it is missing, so
a database of that time is taken over in place, rows kept, and the next revisions change
it from there. (The event store's own tables belong to the eventsourcing library.)

A new table or column: change the SQLAlchemy table in the service's ``readmodel.py``, then
``caseledger migrations new <service> "what changed"`` writes the next revision with the
difference (review it, it is code); ``tests/unit/test_migrations.py`` fails, naming the
table or column, while the metadata and the revisions disagree.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, create_engine, text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True)
class Schema:
    """A service's read-model schema: its tables (``metadata``) and the revisions that make
    them (``versions``, a directory of Alembic revision files)."""

    name: str
    metadata: Sequence[MetaData]
    versions: Path
    _lock_key: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lock_key", zlib.crc32(f"caseledger-migrations:{self.name}".encode()))
        for metadata in self.metadata:
            _SCHEMAS.setdefault(id(metadata), self)

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    @property
    def tables(self) -> list[str]:
        return sorted(name for m in self.metadata for name in m.tables)

    def script(self) -> ScriptDirectory:
        return ScriptDirectory(str(self.versions), version_locations=[str(self.versions)])

    def head(self) -> str | None:
        return self.script().get_current_head()


# Which schema a MetaData belongs to (a service's projection names its metadata).
_SCHEMAS: dict[int, Schema] = {}


def schema_of(metadata: MetaData) -> Schema | None:
    return _SCHEMAS.get(id(metadata))


# Alembic's ``op`` and ``context`` are process-wide proxies: two threads migrating at once
# (the chaos run rebuilds every projection in a thread of its own) would run each other's
# operations on the wrong connection and hang. One migration at a time per process.
_ONE_AT_A_TIME = threading.Lock()


def upgrade_connection(connection: Connection, schema: Schema, revision: str = "head") -> None:
    """Upgrade the database of ``connection`` (inside its transaction) to ``revision``."""
    with _ONE_AT_A_TIME:
        _upgrade(connection, schema, revision)


def _upgrade(connection: Connection, schema: Schema, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        # Replicas starting together: one migrates, the others then find it done.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": schema._lock_key})
    script = schema.script()

    def upgrade(current: Any, _context: Any) -> Any:
        return script._upgrade_revs(revision, current)

    with EnvironmentContext(Config(), script, fn=upgrade) as env:
        env.configure(
            connection=connection,
            target_metadata=list(schema.metadata),
            version_table=schema.version_table,
            render_as_batch=True,  # SQLite changes columns by copying the table
        )
        with env.begin_transaction():
            env.run_migrations()


async def upgrade(engine: AsyncEngine, schema: Schema, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(upgrade_connection, schema, revision)


def current_revision(connection: Connection, schema: Schema) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": schema.version_table})
    return context.get_current_revision()


def differences(connection: Connection, schema: Schema) -> list[Any]:
    """What the database (upgraded to head) lacks or has beyond the metadata, as Alembic's
    autogenerate sees it; empty when the revisions make exactly the tables of the code."""
    context = MigrationContext.configure(
        connection,
        opts={
            "version_table": schema.version_table,
            "include_name": lambda name, kind, _parent: not (kind == "table" and name == schema.version_table),
        },
    )
    found: list[Any] = compare_metadata(context, list(schema.metadata))  # type: ignore[arg-type]
    return found


def describe(difference: Any) -> str:
    """One difference in words, naming the table (and column or index)."""
    if isinstance(difference, list):  # column modifications come grouped
        return "; ".join(describe(d) for d in difference)
    kind, *rest = difference
    if kind in ("add_table", "remove_table"):
        return f"{kind} {rest[0].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {rest[1]}.{rest[2].name}"
    if kind in ("add_index", "remove_index"):
        return f"{kind} {rest[0].table.name}.{rest[0].name}"
    if kind in ("add_constraint", "remove_constraint"):
        return f"{kind} {rest[0].table.name}.{rest[0].name}"
    if kind.startswith("modify_"):
        return f"{kind} {rest[1]}.{rest[2]}"
    return repr(difference)


def new_revision(schema: Schema, message: str) -> Path:
    """Write the next revision of ``schema``: what the code's tables have beyond the
    newest revision, found by upgrading an empty SQLite database and comparing. Returns
    the file written (review it before committing)."""
    script = schema.script()
    head = script.get_current_head()
    numbers = [int(m.group(1)) for p in schema.versions.glob("*.py") if (m := re.match(r"(\d{4})_", p.name))]
    number = f"{max(numbers, default=0) + 1:04d}"
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        upgrade_connection(conn, schema)
        context = MigrationContext.configure(conn, opts={"version_table": schema.version_table})
        operations = produce_migrations(context, MetaData() if not schema.metadata else _merged(schema))
    body = render_python_code(operations.upgrade_ops, render_as_batch=True)  # type: ignore[arg-type]
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    path = schema.versions / f"{number}_{slug}.py"
    down = f'"{head}"' if head else "None"
    path.write_text(
        f'"""{message}"""\n\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        f'revision = "{number}"\n'
        f"down_revision = {down}\n\n\n"
        "def upgrade() -> None:\n"
        + "\n".join(line.rstrip() for line in body.splitlines() if "###" not in line).rstrip()
        + "\n",
        encoding="utf-8",
    )
    return path


def _merged(schema: Schema) -> MetaData:
    merged = MetaData()
    for metadata in schema.metadata:
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return merged
