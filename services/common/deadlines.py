"""Deadlines as every service keeps them (issue 10).

- What the events record of a computed deadline: the rule (id and version) that produced
  the due date, whether it was counted on a guessed calendar year, and the region whose
  override set the value (``RecordedDeadline``).
- What an aggregate keeps of each of its deadlines (``DeadlineState``: open until its step
  happens, and the due date an approaching / missed event was recorded for), and what the
  clock says about them (``KeepsDeadlines``): `deadline approaching` from the lead,
  `deadline missed` after the due date, each recorded once per due date, nothing for a
  deadline closed by its step. Each service names these events with its own types
  (``DeadlineApproachingEvent`` / ``DeadlineMissedEvent`` subclassed in its aggregate).
- The scheduler's check over an application (``DeadlineApplication.record_deadline_events``,
  called by services/infra/scheduler.py): load, record, save once; a second scheduler (another
  replica) that appends the same event collides on the aggregate version and leaves it.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from typing_extensions import TypedDict

from services.common.calendar import OfficialCalendar
from services.common.rules import Catalogue, Deadline
from services.infra.eventstore import ServiceApplication, TracedAggregate
from services.infra.identity import system_actor
from services.infra.settings import Settings

# The deadline events are recorded this many working days before a due date by default
# (every service's DEADLINE_LEAD_WORKING_DAYS).
DEFAULT_LEAD_WORKING_DAYS = 3


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


class DeadlineState(TypedDict):
    """A deadline as an aggregate keeps it: open until the step happens (met) or closed."""

    deadline: RecordedDeadline
    open: bool
    approaching_for: str | None  # the due date an approaching event was recorded for
    missed_for: str | None  # the due date a missed event was recorded for


def open_deadline(deadline: RecordedDeadline) -> DeadlineState:
    return DeadlineState(deadline=deadline, open=True, approaching_for=None, missed_for=None)


class DeadlineApproachingEvent(TracedAggregate.Event):
    """A deadline's due date is within the lead (recorded once per due date)."""

    deadline: RecordedDeadline
    lead_working_days: int
    recorded_on: str

    def apply(self, aggregate: Any) -> None:
        aggregate.deadlines[self.deadline["name"]]["approaching_for"] = self.deadline["due_on"]


class DeadlineMissedEvent(TracedAggregate.Event):
    """A deadline's due date passed with its step not taken (recorded once per due date)."""

    deadline: RecordedDeadline
    recorded_on: str

    def apply(self, aggregate: Any) -> None:
        aggregate.deadlines[self.deadline["name"]]["missed_for"] = self.deadline["due_on"]


class KeepsDeadlines:
    """An aggregate with statutory deadlines (mixed into a TracedAggregate). It defines
    ``DeadlineApproaching`` and ``DeadlineMissed`` (subclasses of the events above with its
    service's CloudEvent types), keeps ``deadlines`` and says who the scheduler acts for."""

    deadlines: dict[str, DeadlineState]
    DeadlineApproaching: ClassVar[type[Any]]
    DeadlineMissed: ClassVar[type[Any]]
    # The service recording the events (the actor's "service:<name>").
    deadline_service: ClassVar[str] = ""

    if TYPE_CHECKING:

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    def deadline_owner(self) -> tuple[str, str]:
        """(agency code, region code) of the agency whose deadline it is."""
        raise NotImplementedError

    def deadline_event_data(self) -> dict[str, Any]:
        """Fields every deadline event of this aggregate carries besides the deadline
        (e.g. the case id of a referral or a publication)."""
        return {}

    def open_deadlines(self) -> list[RecordedDeadline]:
        return [state["deadline"] for state in self.deadlines.values() if state["open"]]

    def add_deadline(self, deadline: RecordedDeadline) -> None:
        """A deadline that starts with a step (in the step's event's apply)."""
        self.deadlines[deadline["name"]] = open_deadline(deadline)

    def close_deadline(self, name: str) -> None:
        """The step is taken: its deadline is met (or, if late, closed after its missed
        event), and nothing more is recorded for it."""
        state = self.deadlines.get(name)
        if state is not None:
            state["open"] = False

    def record_deadline_events(self, today: date, calendar: OfficialCalendar, lead_working_days: int) -> None:
        """What the clock says about each open deadline, recorded once per due date: missed
        once ``today`` is past the due date; approaching from ``lead_working_days`` working
        days before it (not when it is already missed). A met deadline is closed: nothing."""
        for state in list(self.deadlines.values()):
            if not state["open"]:
                continue
            deadline = state["deadline"]
            due = date.fromisoformat(deadline["due_on"])
            common = {
                **self.deadline_event_data(),
                "deadline": deadline,
                "recorded_on": today.isoformat(),
                "actor": self._scheduler_actor(deadline["name"]),
            }
            if today > due:
                if state["missed_for"] != deadline["due_on"]:
                    self.trigger_event(self.DeadlineMissed, **common)
            elif state["approaching_for"] != deadline["due_on"] and today >= approaching_from(
                due, calendar, lead_working_days
            ):
                self.trigger_event(self.DeadlineApproaching, lead_working_days=lead_working_days, **common)

    def next_deadline_check(self, calendar: OfficialCalendar, lead_working_days: int) -> date | None:
        """The first day on which :meth:`record_deadline_events` would record something."""
        days = []
        for state in self.deadlines.values():
            if not state["open"]:
                continue
            due_on = state["deadline"]["due_on"]
            due = date.fromisoformat(due_on)
            if state["missed_for"] == due_on:
                continue
            if state["approaching_for"] == due_on:
                days.append(due + timedelta(days=1))
            else:
                days.append(approaching_from(due, calendar, lead_working_days))
        return min(days, default=None)

    def _scheduler_actor(self, name: str) -> dict[str, Any]:
        agency_code, region_code = self.deadline_owner()
        return system_actor(self.deadline_service, agency_code, region_code, f"deadline scheduler: the {name} deadline")


def approaching_from(due: date, calendar: OfficialCalendar, lead_working_days: int) -> date:
    """The first day of the lead: ``lead_working_days`` working days before ``due``."""
    return calendar.working_days_before(due, lead_working_days).day


class DeadlineSettings(Settings):
    """The shared settings plus the deadline scheduler's lead."""

    # How many working days before a due date `deadline approaching` is recorded.
    deadline_lead_working_days: int = DEFAULT_LEAD_WORKING_DAYS


class DeadlineApplication(ServiceApplication):
    """A service application whose aggregates keep deadlines computed from the rules
    catalogue; its :meth:`record_deadline_events` is the scheduler's check."""

    # The aggregate's name in spans and errors ("case", "referral", "publication").
    aggregate_name: ClassVar[str] = "aggregate"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        catalogue: Catalogue,
        lead_working_days: int = DEFAULT_LEAD_WORKING_DAYS,
    ) -> None:
        super().__init__(env=env)
        self.catalogue = catalogue  # every deadline is computed from it
        self.lead_working_days = lead_working_days

    def record_deadline_events(self, aggregate_id: UUID, today: date) -> date | None:
        """Record what ``today`` says about the aggregate's open deadlines (approaching,
        missed), once: a second scheduler (another replica) that appends the same event
        collides on the aggregate version and leaves it to the first. Returns the next day
        to look at the aggregate again, or None when it has no open deadline left."""
        aggregate = self.find(aggregate_id)
        if not isinstance(aggregate, KeepsDeadlines):
            return None
        calendar = self.catalogue.calendar
        aggregate.record_deadline_events(today, calendar, self.lead_working_days)
        if aggregate.pending_events:  # type: ignore[attr-defined]
            try:
                self.append(aggregate, {f"{self.aggregate_name}.id": str(aggregate_id)})  # type: ignore[arg-type]
            except IntegrityError:
                # Recorded by another scheduler, or a command won: look again today.
                current = self.load(aggregate_id, self.aggregate_name)
                return today if current.next_deadline_check(calendar, self.lead_working_days) else None
        return aggregate.next_deadline_check(calendar, self.lead_working_days)
