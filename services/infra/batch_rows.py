"""The rows a batch of events changes, read once, changed in memory and written once.

A projection's ``load`` reads the rows its batch touches into ``BatchRows`` (a statement
a table, whatever the batch's size), its ``apply`` changes them event by event as plain
dicts, and the runner's ``flush`` writes each changed row once: one multi-row upsert a
table, however many of the batch's events changed a row. PostgreSQL and SQLite alike.

Rows are keyed by their table's primary key; ``of`` finds a key's rows by the key's
first column (a case's respondents, its deadlines). Tables whose rows are only ever
added (a history with an autoincrement position) take ``append`` instead; a row the batch
takes away (a publication off the public feed) ``remove``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from services.infra.sql import upsert_statement

Row = dict[str, Any]
Key = tuple[Any, ...]

# Values of one IN (...) at most: far below SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


class BatchRows:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._rows: dict[Table, dict[Key, Row]] = {}
        self._by_owner: dict[Table, dict[Any, list[Key]]] = {}
        self._changed: dict[Table, dict[Key, None]] = {}  # insertion-ordered sets
        self._added_if_absent: dict[Table, dict[Key, Row]] = {}
        self._unique: dict[Table, tuple[str, ...]] = {}
        self._appended: dict[Table, list[Row]] = {}
        self._removed: dict[Table, dict[Key, None]] = {}

    # -- reading ---------------------------------------------------------------------------

    async def load(self, table: Table, *where: ColumnElement[bool]) -> None:
        """Read the rows of ``table`` matching ``where`` (a row read already stays as it is)."""
        rows = await self.conn.execute(select(table).where(*where).order_by(*table.primary_key.columns))
        for row in rows:
            self._keep(table, dict(row._mapping), changed=False)

    async def load_keys(self, table: Table, column: str, values: Collection[Any]) -> None:
        """Read the rows of ``table`` whose ``column`` is one of ``values``."""
        wanted = sorted(set(values))
        for start in range(0, len(wanted), _CHUNK):
            await self.load(table, table.c[column].in_(wanted[start : start + _CHUNK]))

    def get(self, table: Table, *key: Any) -> Row | None:
        """The row of this primary key, as changed so far in the batch, or None."""
        return self._rows.get(table, {}).get(key)

    def of(self, table: Table, owner: Any, **match: Any) -> list[Row]:
        """The rows whose first key column is ``owner`` (and whose columns equal ``match``),
        in key order as read, then as added."""
        rows = self._rows.get(table, {})
        found = (rows[key] for key in self._by_owner.get(table, {}).get(owner, ()))
        return [row for row in found if all(row[name] == value for name, value in match.items())]

    def all(self, table: Table) -> list[Row]:
        return list(self._rows.get(table, {}).values())

    # -- changing --------------------------------------------------------------------------

    def put(self, table: Table, row: Row) -> Row:
        """A row's columns: a new row (the others at their defaults) or, when its key was
        read or put already, changes to that one; written at the flush."""
        existing = self.get(table, *_key(table, row))
        if existing is not None:
            self.change(table, existing, **row)
            return existing
        return self._keep(table, _complete(table, row), changed=True)

    def change(self, table: Table, row: Row, **changes: Any) -> None:
        """Change a row got from ``get`` or ``of``; written once at the flush."""
        row.update(changes)
        self._changed.setdefault(table, {})[_key(table, row)] = None

    def change_all(self, table: Table, rows: Iterable[Row], **changes: Any) -> None:
        for row in rows:
            self.change(table, row, **changes)

    def add_if_absent(self, table: Table, row: Row, unique: Sequence[str] = ()) -> None:
        """A row written only if its key (or ``unique``, one of the table's unique
        constraints) is not in the table yet; left as it is otherwise."""
        self._unique[table] = tuple(unique) or tuple(c.name for c in table.primary_key.columns)
        self._added_if_absent.setdefault(table, {}).setdefault(_key(table, row), _complete(table, row))

    def remove(self, table: Table, *key: Any) -> None:
        """The row of this primary key is deleted at the flush (read or not; a row put
        earlier in the batch is not written at all, one put again after is)."""
        self._rows.get(table, {}).pop(key, None)
        self._changed.get(table, {}).pop(key, None)
        self._added_if_absent.get(table, {}).pop(key, None)
        owned = self._by_owner.get(table, {}).get(key[0])
        if owned and key in owned:
            owned.remove(key)
        self._removed.setdefault(table, {})[key] = None

    def append(self, table: Table, row: Row) -> None:
        """A row only ever added (its key made by the database), in the order appended."""
        self._appended.setdefault(table, []).append(_complete(table, row))

    # -- writing ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write what the batch changed: one statement a table and kind of change."""
        dialect = self.conn.dialect.name
        for table, removed in self._removed.items():
            columns = list(table.primary_key.columns)
            gone = list(removed)
            for start in range(0, len(gone), _CHUNK):
                await self.conn.execute(table.delete().where(tuple_(*columns).in_(gone[start : start + _CHUNK])))
        for table, keys in self._changed.items():
            rows = [self._rows[table][key] for key in keys]
            keys_of = [c.name for c in table.primary_key.columns]
            await self.conn.execute(upsert_statement(table, keys_of, rows[0].keys(), dialect), rows)
        for table, added in self._added_if_absent.items():
            await self.conn.execute(upsert_statement(table, self._unique[table], (), dialect), list(added.values()))
        for table, appended in self._appended.items():
            await self.conn.execute(table.insert(), appended)
        self._changed.clear()
        self._added_if_absent.clear()
        self._appended.clear()
        self._removed.clear()

    def _keep(self, table: Table, row: Row, *, changed: bool) -> Row:
        key = _key(table, row)
        rows = self._rows.setdefault(table, {})
        if key in rows:
            return rows[key]  # read again: what the batch changed stands
        self._removed.get(table, {}).pop(key, None)  # put again after its removal
        rows[key] = row
        self._by_owner.setdefault(table, {}).setdefault(key[0], []).append(key)
        if changed:
            self._changed.setdefault(table, {})[key] = None
        return rows[key]


def _key(table: Table, row: Row) -> Key:
    return tuple(row[c.name] for c in table.primary_key.columns)


def _complete(table: Table, row: Row) -> Row:
    """Every column of the table (its scalar default, or None, for one not given), so the
    rows of one statement have the same columns; a key the database makes is left out."""
    complete = {}
    for column in table.columns:
        if column.name in row:
            complete[column.name] = row[column.name]
        elif column.primary_key and column.autoincrement is True:
            continue
        else:
            default = column.default
            complete[column.name] = default.arg if default is not None and default.is_scalar else None  # type: ignore[attr-defined]
    return complete
