"""A computed deadline as the events of every service record it (issue 10): the rule (id
and version) that produced the due date, whether it was counted on a guessed calendar
year, and the region whose override set the value."""

from __future__ import annotations

from typing_extensions import TypedDict

from services.common.rules import Deadline


class RecordedDeadline(TypedDict):
    """A deadline as the events record it: which rule (id and version) produced the due
    date, whether it was counted on a guessed calendar year, and the region whose override
    set the value (null: the national rule)."""

    name: str
    rule_id: str
    rule_version: int
    due_on: str
    provisional: bool
    region_override: str | None


def recorded_deadline(name: str, deadline: Deadline) -> RecordedDeadline:
    """What the events keep of a deadline the catalogue computed."""
    return RecordedDeadline(
        name=name,
        rule_id=deadline.rule_id,
        rule_version=deadline.rule_version,
        due_on=deadline.due_on.isoformat(),
        provisional=deadline.provisional,
        region_override=deadline.region_override,
    )
