"""SQL helpers for the read models, on PostgreSQL and SQLite alike."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from services.infra.errors import NotFound


def upsert(table: Table, values: dict[str, Any], keys: Sequence[str], dialect: str) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, on PostgreSQL or SQLite."""
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table).values(**values)
    updates = {k: stmt.excluded[k] for k in values if k not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


def upsert_statement(table: Table, keys: Sequence[str], columns: Iterable[str], dialect: str) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE of ``columns`` (DO NOTHING when there are
    none besides the keys), for many rows at once: the rows are the parameters. Made once
    per table, keys and columns (each batch of every consumer asks for the same few)."""
    return _upsert_statement(table, tuple(keys), tuple(columns), dialect)


@functools.lru_cache(maxsize=512)
def _upsert_statement(table: Table, keys: tuple[str, ...], columns: tuple[str, ...], dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(table)
    updates = {c: stmt.excluded[c] for c in columns if c not in keys}
    if not updates:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=updates)


async def one_or_not_found(engine: AsyncEngine, query: Select[Any], what: str) -> Any:
    """The single row ``query`` selects, or ``NotFound`` naming ``what``."""
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"no {what}")
    return row
