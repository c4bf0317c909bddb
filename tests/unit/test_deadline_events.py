"""Deadline events of the referral and disclosure services (issue 10 item 5), through the
case service's scheduler code (services/common/deadlines.py, services/infra/scheduler.py):
`deadline approaching` and `deadline missed` recorded once per due date, across a restart
and with two schedulers at once, none for a deadline whose step happened in time; a
publication pushed to Credit China closes its publish-by deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from services.common.rules import load_catalogue
from services.disclosure.application import DisclosureApplication, publication_actor
from services.disclosure.domain import Publication
from services.infra.eventstore import ServiceApplication, cloud_type, event_data
from services.infra.scheduler import DeadlineScheduler
from services.infra.settings import Settings
from services.referral.application import ReferralApplication
from tests.unit.test_referral_deadlines import CASE
from tests.unit.test_referral_deadlines import _refer as refer

CATALOGUE = load_catalogue()
REFERRAL_APPROACHING = "cn.caseledger.referral.deadline_approaching.v1"
REFERRAL_MISSED = "cn.caseledger.referral.deadline_missed.v1"
PUBLICATION_APPROACHING = "cn.caseledger.disclosure.deadline_approaching.v1"
PUBLICATION_MISSED = "cn.caseledger.disclosure.deadline_missed.v1"
# Referred Monday 2026-03-02: 03-03 (1), 03-04 (2), Thursday 03-05 (3): the police's filing
# decision is due 03-05. Three working days before: Wed 03-04 (1), Tue 03-03 (2), Mon 03-02 (3).
REFERRED_ON, FILING_DUE, FILING_APPROACHING_FROM = date(2026, 3, 2), "2026-03-05", date(2026, 3, 2)
# Decided Wednesday 2026-05-20: working days Thu 05-21 (1), Fri 05-22 (2), Mon 05-25 (3),
# Tue 05-26 (4), Wed 05-27 (5), Thu 05-28 (6), Fri 05-29 (7): publish by 05-29. Three working
# days before: Thu 05-28 (1), Wed 05-27 (2), Tue 05-26 (3).
DECIDED_ON, PUBLISH_BY, PUBLISH_APPROACHING_FROM = "2026-05-20", "2026-05-29", date(2026, 5, 26)
# A general-tier publication (a fine) is published 12 months, to 2027-05-20: the scheduler
# looks at it again the day after, to end it.
PERIOD_OVER = date(2027, 5, 21)


def _env(path: Path, name: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path / f"{name}.sqlite")}


def _referrals(path: Path) -> ReferralApplication:
    return ReferralApplication(env=_env(path, "referrals"), catalogue=CATALOGUE)


def _disclosures(path: Path) -> DisclosureApplication:
    return DisclosureApplication(env=_env(path, "disclosures"), catalogue=CATALOGUE)


@pytest.fixture
def referrals(tmp_path: Path) -> Iterator[ReferralApplication]:
    app = _referrals(tmp_path)
    yield app
    app.close()


@pytest.fixture
def disclosures(tmp_path: Path) -> Iterator[DisclosureApplication]:
    app = _disclosures(tmp_path)
    yield app
    app.close()


def _events(app: ServiceApplication, aggregate_id: UUID) -> list[Any]:
    return list(app.events.get(aggregate_id))


def _types(app: ServiceApplication, aggregate_id: UUID) -> list[str]:
    """The deadline events and the publication's (not the steps that led to the deadline)."""
    types = [cloud_type(type(e)) for e in _events(app, aggregate_id)]
    return [t for t in types if "deadline_" in t or t.endswith(".published.v1")]


def _refer(app: ReferralApplication) -> UUID:
    referral = refer(REFERRED_ON)
    app.save(referral)
    return referral.id


def _prepare(app: DisclosureApplication) -> Publication:
    agency = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281"}
    publication = Publication.prepare(
        case_id=CASE["case_id"],
        decision={
            "decision_number": "(醴)应急罚〔2026〕40号",
            "decided_on": DECIDED_ON,
            "penalties": [{"kind": "fine", "amount_yuan": 5000}],
            "fine_total_yuan": 5000,
            "agency": agency,
            "party": {"kind": "enterprise", "name": "某花炮厂", "code": "91430281MA4L12345R"},
            "violation_summary": "未按规定储存烟花爆竹",
            "legal_basis": "《安全生产法》第一百零一条",
        },
        catalogue=CATALOGUE,
        actor=publication_actor(agency, "test"),
    )
    app.save(publication)
    return publication


def _publish(app: DisclosureApplication, publication_id: UUID, on: date) -> None:
    publication = app.get_publication(publication_id)
    publication.publish(
        published_on=on, receipt_id="CC-1", actor=publication_actor({"code": "x", "region_code": "430281"}, "test")
    )
    app.save(publication)


def test_the_filing_decision_deadline_is_recorded_once_each_also_after_a_restart(
    referrals: ReferralApplication, tmp_path: Path
) -> None:
    referral_id = _refer(referrals)
    assert referrals.record_deadline_events(referral_id, date(2026, 3, 1)) == FILING_APPROACHING_FROM
    assert _types(referrals, referral_id) == []
    assert referrals.record_deadline_events(referral_id, FILING_APPROACHING_FROM) == date(2026, 3, 6)
    assert referrals.record_deadline_events(referral_id, date(2026, 3, 5)) == date(2026, 3, 6)  # the due day
    assert _types(referrals, referral_id) == [REFERRAL_APPROACHING]
    assert referrals.record_deadline_events(referral_id, date(2026, 3, 6)) is None
    restarted = _referrals(tmp_path)  # the same event store, a new process
    try:
        assert restarted.record_deadline_events(referral_id, date(2026, 3, 20)) is None
        assert _types(restarted, referral_id) == [REFERRAL_APPROACHING, REFERRAL_MISSED]
    finally:
        restarted.close()
    missed = event_data(_events(referrals, referral_id)[-1])
    assert missed["case_id"] == CASE["case_id"]  # the topic's key: the case, not the referral
    assert missed["deadline"]["name"] == "police_filing_decision" and missed["deadline"]["due_on"] == FILING_DUE
    assert missed["actor"]["subject"] == "service:referral" and missed["actor"]["agency_code"] == CASE["agency_code"]


def test_two_referral_schedulers_at_once_record_one_event(
    referrals: ReferralApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    referral_id = _refer(referrals)
    replica = _referrals(tmp_path)
    try:
        stale = replica.find(referral_id)  # read before the first replica records
        referrals.record_deadline_events(referral_id, date(2026, 3, 6))
        monkeypatch.setattr(replica, "find", lambda _id: stale)
        # Collides on the version: dropped, and the aggregate is looked at again today.
        assert replica.record_deadline_events(referral_id, date(2026, 3, 6)) is None
    finally:
        replica.close()
    assert _types(referrals, referral_id) == [REFERRAL_MISSED]


def test_publish_by_is_recorded_once_each_when_not_published(disclosures: DisclosureApplication) -> None:
    publication = _prepare(disclosures)
    assert publication.publish_by == PUBLISH_BY
    assert disclosures.record_deadline_events(publication.id, date(2026, 5, 25)) == PUBLISH_APPROACHING_FROM
    assert disclosures.record_deadline_events(publication.id, PUBLISH_APPROACHING_FROM) == date(2026, 5, 30)
    # Then nothing until the day after its period (general tier: 12 months, to 2027-05-20).
    assert disclosures.record_deadline_events(publication.id, date(2026, 5, 30)) == PERIOD_OVER
    assert disclosures.record_deadline_events(publication.id, date(2026, 6, 30)) == PERIOD_OVER
    assert _types(disclosures, publication.id) == [PUBLICATION_APPROACHING, PUBLICATION_MISSED]
    missed = event_data(_events(disclosures, publication.id)[-1])
    assert missed["case_id"] == CASE["case_id"]
    assert missed["deadline"]["rule_id"] == "publication.penalty_publish_within"


def test_a_publication_pushed_closes_publish_by(disclosures: DisclosureApplication) -> None:
    in_time = _prepare(disclosures)
    _publish(disclosures, in_time.id, date(2026, 5, 22))
    for day in (PUBLISH_APPROACHING_FROM, date(2026, 5, 30), date(2026, 12, 31)):
        assert disclosures.record_deadline_events(in_time.id, day) == PERIOD_OVER
    assert _types(disclosures, in_time.id) == ["cn.caseledger.disclosure.published.v1"]
    assert disclosures.get_publication(in_time.id).open_deadlines() == []


def test_published_after_the_reminder_closes_it_before_missed(disclosures: DisclosureApplication) -> None:
    publication = _prepare(disclosures)
    disclosures.record_deadline_events(publication.id, PUBLISH_APPROACHING_FROM)
    _publish(disclosures, publication.id, date(2026, 5, 28))  # after the reminder, in time
    assert disclosures.record_deadline_events(publication.id, date(2026, 6, 1)) == PERIOD_OVER
    assert _types(disclosures, publication.id) == [PUBLICATION_APPROACHING, "cn.caseledger.disclosure.published.v1"]


def test_the_scheduler_checks_referrals_and_publications_alike(
    referrals: ReferralApplication, disclosures: DisclosureApplication, tmp_path: Path
) -> None:
    referral_id, publication = _refer(referrals), _prepare(disclosures)
    for app, aggregate_id, day, expected in (
        (referrals, referral_id, date(2026, 3, 6), [REFERRAL_MISSED]),
        (disclosures, publication.id, PUBLISH_APPROACHING_FROM, [PUBLICATION_APPROACHING]),
    ):
        scheduler = DeadlineScheduler(app, Settings(data_dir=tmp_path), app.record_deadline_events)
        scheduler.tick(day)
        scheduler.tick(day)  # its own events are read in the next round: nothing twice
        assert _types(app, aggregate_id) == expected
