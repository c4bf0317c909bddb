"""The case's events keep the topics they were stored under.

The case is written as one class per phase (services/case/domain/), and the library stores
each event with the topic of its class. Every event stored since the first release says
``services.case.domain:Case.<Name>``: if a phase's own class (``Filing.Filed``) were
recorded instead, or a rename moved a class, events already in an event store would no
longer resolve and a restart could not rebuild its cases.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from eventsourcing.domain import CanMutateAggregate
from eventsourcing.utils import get_topic, resolve_topic

from services.case.application import CaseApplication
from services.case.domain import Case
from services.case.domain.filing import Filing
from tests.unit.test_case_rules import _file, _review


def _event_classes() -> dict[str, type]:
    return {
        name: value
        for name, value in vars(Case).items()
        if isinstance(value, type) and issubclass(value, CanMutateAggregate) and name not in ("Event", "Created")
    }


def test_every_case_event_keeps_the_topic_it_was_stored_under() -> None:
    classes = _event_classes()
    assert len(classes) == 36  # every event of the case (add one here when the case gains one)
    for name, cls in classes.items():
        topic = f"services.case.domain:Case.{name}"
        assert get_topic(cls) == topic
        assert resolve_topic(topic) is cls
    assert get_topic(Case) == "services.case.domain:Case"


def test_a_phase_records_the_case_s_event_class_not_its_own(cases: CaseApplication, tmp_path: Path) -> None:
    # A phase defines the event; the library defines it again on Case, and a command
    # (called on a Case) triggers Case's class: the event store holds Case's topics.
    assert Case.Filed is not Filing.Filed and issubclass(Case.Filed, Filing.Filed)
    case = _file(cases, "k-1")
    _review(cases, case.id, case.version, "k-2")
    db = sqlite3.connect(str(tmp_path / "events.sqlite"))
    topics = [row[0] for row in db.execute("SELECT topic FROM stored_events ORDER BY rowid")]
    db.close()
    assert topics == ["services.case.domain:Case.Filed", "services.case.domain:Case.LegalReviewRecorded"]
