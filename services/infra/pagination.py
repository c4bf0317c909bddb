"""Keyset (cursor) pagination over a read model, ordered by record time then id: stable
while new rows arrive, and cheap at any depth."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from services.infra.errors import InvalidInput

T = TypeVar("T")


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except (ValueError, UnicodeDecodeError) as exc:
        raise _foreign_cursor() from exc


def position_after(cursor: str | None) -> int:
    """The position a numeric cursor (a log's or a timeline's) continues after."""
    if cursor is None:
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise _foreign_cursor()
    return int(cursor)


def _foreign_cursor() -> InvalidInput:
    return InvalidInput("cursor", "cursor", "not a cursor from this API", where="query")


def after_cursor(query: Select[Any], recorded_at: Column[Any], key: Column[Any], cursor: str | None) -> Select[Any]:
    """``query``'s rows after the cursor's, in record time then id order (not limited)."""
    if cursor:
        after = decode_cursor(cursor)
        try:
            at, last_key = datetime.fromisoformat(after["at"]), str(after["id"])
        except (KeyError, ValueError, TypeError):
            raise _foreign_cursor() from None
        # A row value: an index on (record time, id) finds the page's start (the same
        # condition as "later, or as late and a greater id", which the planner only filters by).
        later = tuple_(literal(at, recorded_at.type), literal(last_key, key.type))
        query = query.where(tuple_(recorded_at, key) > later)
    return query.order_by(recorded_at, key)


async def keyset_page(
    engine: AsyncEngine,
    query: Select[Any],
    recorded_at: Column[Any],
    key: Column[Any],
    limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    """Run ``query`` for one page; returns the rows and the cursor of the next page."""
    query = after_cursor(query, recorded_at, key, cursor).limit(limit + 1)
    async with engine.connect() as conn:
        rows = list((await conn.execute(query)).all())
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]._mapping
        next_cursor = encode_cursor({"at": last[recorded_at.name].isoformat(), "id": str(last[key.name])})
    return rows[:limit], next_cursor


def list_page(
    items: Sequence[T], key: Callable[[T], str], limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """One page of an in-memory list ordered by ``key`` (unique), with the same cursors as
    :func:`keyset_page` (e.g. the rules catalogue, loaded at start-up)."""
    ordered = sorted(items, key=key)
    if cursor:
        after = decode_cursor(cursor)
        last_key = after.get("id")
        if not isinstance(last_key, str) or set(after) != {"id"}:
            raise _foreign_cursor()
        ordered = [item for item in ordered if key(item) > last_key]
    page = ordered[:limit]
    next_cursor = encode_cursor({"id": key(page[-1])}) if len(ordered) > limit else None
    return page, next_cursor
