"""A read model's table of its aggregates' open deadlines, queried the same way by every
service that shows them (the case ledger, the referral tracker): the open deadlines of a
page of rows, the overdue and due-before filters, and each deadline as the API shows it.

Generic: the table (owner column, ``name``, ``due_on``, ``rule_id``, ``rule_version``,
``provisional``, ``open`` and whatever else it keeps) is the read model's own."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Column, Select, Table, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.infra.clock import today_in_china
from services.infra.metrics import Reading

SHOWN = ("name", "due_on", "rule_id", "rule_version", "provisional")


class DeadlineRows:
    def __init__(self, table: Table, owner: str, shown: Sequence[str] = SHOWN) -> None:
        self.table = table
        self.owner: Column[Any] = table.c[owner]
        self.owner_name = owner
        self.shown = tuple(shown)

    async def open_for(self, db: AsyncEngine, owners: list[str]) -> list[Any]:
        """The open deadlines of these owners, by owner, due date and name."""
        if not owners:
            return []
        c = self.table.c
        query = (
            select(self.table).where(self.owner.in_(owners), c.open.is_(True)).order_by(self.owner, c.due_on, c.name)
        )
        async with db.connect() as conn:
            return list((await conn.execute(query)).all())

    def filtered(
        self, query: Select[Any], owner_key: Column[Any], *, overdue: bool | None, due_before: date | None
    ) -> Select[Any]:
        """``query`` narrowed to rows with (or, overdue=False, without) an overdue open
        deadline, and to rows with an open deadline due strictly before ``due_before``."""
        due_on = self.table.c.due_on
        if overdue is not None:
            late = self._with_open(owner_key, due_on < today_in_china().isoformat())
            query = query.where(late if overdue else ~late)
        if due_before is not None:
            query = query.where(self._with_open(owner_key, due_on < due_before.isoformat()))
        return query

    def shown_for(self, owner_id: str, deadlines: list[Any]) -> list[dict[str, Any]]:
        """``owner_id``'s deadlines as the API shows them (overdue: the due date has passed,
        China time)."""
        today = today_in_china().isoformat()
        return [
            {**{name: getattr(d, name) for name in self.shown}, "overdue": d.due_on < today}
            for d in deadlines
            if getattr(d, self.owner_name) == owner_id
        ]

    async def readings(self, db: AsyncEngine) -> list[Reading]:
        """/metrics: the open deadlines and, of them, those missed (due before today, China
        time), by deadline name."""
        c = self.table.c
        today = today_in_china().isoformat()
        query = (
            select(c.name, func.count(), func.sum(case((c.due_on < today, 1), else_=0)))
            .where(c.open.is_(True))
            .group_by(c.name)
        )
        async with db.connect() as conn:
            rows = (await conn.execute(query)).all()
        found = []
        for name, open_count, missed in rows:
            labels = {"deadline": str(name)}
            found.append(Reading("caseledger_deadlines_open", "Open deadlines, by name", float(open_count), labels))
            found.append(
                Reading("caseledger_deadlines_missed", "Open deadlines past their due date", float(missed or 0), labels)
            )
        return found

    def _with_open(self, owner_key: Column[Any], condition: Any) -> Any:
        # EXISTS, not IN: its negation is an anti-join probing the table's key per row,
        # where NOT IN would collect every open deadline first.
        return exists().where(self.owner == owner_key, self.table.c.open.is_(True), condition)
