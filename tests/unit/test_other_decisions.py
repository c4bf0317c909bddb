"""Other enforcement decisions (其他行政执法决定): a no-penalty decision (不予行政处罚决定)
is published on the agency's site within 20 working days, masked and withheld as a
penalty is, watched by the deadline scheduler, and never pushed to Credit China.

Real parts as in test_disclosure_publisher.py: a real case, its event in the Kafka wire
format, the policy, a SQLite event store, the publisher and the Credit China simulator."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import httpx
import pytest

from services.disclosure.application import DisclosureApplication, DisclosureSettings
from services.disclosure.domain import (
    AGENCY_SITE_RECEIPT,
    OTHER_PUBLISH_WITHIN_RULE,
    Publication,
    WithheldDecision,
    no_penalty_decision,
    withholding,
)
from services.disclosure.publisher import CreditChinaPublisher
from services.infra.errors import IllegalInCurrentState
from tests.unit import test_disclosure_publisher as real_parts
from tests.unit.conftest import TEST_CIPHER
from tests.unit.test_case_procedure import CATALOGUE, LATEST, NO_KEY, filed
from tests.unit.test_disclosure_publisher import (
    DISCLOSURE_ACTOR,
    PERSON,
    decided_case,
    messages,
    on_the_wire,
    wait_for,
)

# The same fixtures: a SQLite event store, the Credit China simulator.
app, settings, credit_china = real_parts.app, real_parts.settings, real_parts.credit_china

CALENDAR = CATALOGUE.calendar
DECIDED_ON = date(2026, 4, 20)  # a Monday, before the Labour Day holiday (05-01 to 05-05)


def not_penalised(withheld_because: Any = None) -> Any:
    """A real case filed on 2026-04-01 whose one respondent, a natural person, is not
    penalised on 2026-04-20; returns the decision's event."""
    case = filed([PERSON], violation_date=date(2026, 3, 30), filed_on=date(2026, 4, 1))  # type: ignore[list-item]
    case.not_penalise(
        respondent=1,
        decided_on=DECIDED_ON,
        ground="minor_corrected",
        list_item=None,
        reason="黄小明违法行为轻微并及时改正，没有造成危害后果",
        withheld_because=withheld_because,
        catalogue=CATALOGUE,
        cipher=TEST_CIPHER,
        latest=LATEST,
        **NO_KEY,
    )
    return case.collect_events()[-1]


def prepared(app: DisclosureApplication, withheld_because: Any = None) -> Any:
    event = on_the_wire(not_penalised(withheld_because), "/caseledger/case", 0)
    assert event.type == "cn.caseledger.case.not_penalised.v1"
    (prepared,) = app.on_case_event(event)
    return prepared


def test_a_no_penalty_decision_is_due_20_working_days_after_it_across_labour_day(
    app: DisclosureApplication,
) -> None:
    publication = prepared(app)
    assert isinstance(publication, Publication)
    # Counted from the day after the decision (Mon 2026-04-20) on the official calendar
    # (rules/calendar/2026.yaml): 04-21..04-24 (4), 04-27..04-30 (8), 05-01..05-05 劳动节
    # holiday, 05-06..05-08 (11), Sat 05-09 make-up working day (12), 05-11..05-15 (17),
    # 05-18, 05-19, 05-20 (20). (The 7-day rule for a penalty would end on 04-29.)
    assert publication.publish_by == "2026-05-20"
    assert publication.publish_deadline["rule_id"] == OTHER_PUBLISH_WITHIN_RULE
    # Published for the catalogue's period (12 months from the decision, *to confirm*).
    assert publication.publication_end == "2027-04-20" and publication.tier == "none"
    item = publication.item
    assert item["decision_kind"] == "other" and item["penalty_category"] == "不予行政处罚"
    # Masked as a penalty is: the name as 黄某某, no ID number, address or phone.
    assert item["party_name"] == "黄某某" and item["party_code"] == ""
    assert "黄小明" not in str(item) and "430281198001011234" not in str(item)
    assert "陶瓷路" not in str(item) and "13800138000" not in str(item)
    assert not publication.pushed_to_credit_china


def test_the_20_working_day_deadline_is_watched_approaching_then_missed(app: DisclosureApplication) -> None:
    publication = prepared(app)
    # Lead 3 working days before 05-20: 05-19, 05-18, 05-15.
    assert publication.next_deadline_check(CALENDAR, 3) == date(2026, 5, 15)
    publication.record_deadline_events(date(2026, 5, 14), CALENDAR, 3)
    publication.record_deadline_events(date(2026, 5, 15), CALENDAR, 3)
    publication.record_deadline_events(date(2026, 5, 20), CALENDAR, 3)  # due today: not missed yet
    publication.record_deadline_events(date(2026, 5, 21), CALENDAR, 3)
    publication.record_deadline_events(date(2026, 5, 22), CALENDAR, 3)  # recorded once
    watched = [
        e
        for e in publication.collect_events()
        if isinstance(e, Publication.DeadlineApproaching | Publication.DeadlineMissed)
    ]
    assert [(type(e).__name__, e.deadline["name"], e.deadline["due_on"]) for e in watched] == [
        ("DeadlineApproaching", "publication", "2026-05-20"),
        ("DeadlineMissed", "publication", "2026-05-20"),
    ]
    # Published (late), the deadline is closed; only the period's end is left to watch.
    publication.publish(published_on=date(2026, 5, 22), receipt_id=AGENCY_SITE_RECEIPT, actor=DISCLOSURE_ACTOR)
    assert publication.next_deadline_check(CALENDAR, 3) == date(2027, 4, 21)


def test_an_other_decision_is_published_on_the_site_and_never_pushed_to_credit_china(
    app: DisclosureApplication, settings: DisclosureSettings, credit_china: str
) -> None:
    other = prepared(app)
    app.save(other)
    # A penalty decision after it in the log: it alone goes to Credit China.
    (penalty,) = app.on_case_event(on_the_wire(decided_case(PERSON), "/caseledger/case", 1))
    app.save(penalty)
    publisher = CreditChinaPublisher(app, settings)
    publisher.start()
    try:
        wait_for(lambda: app.get_publication(penalty.id).published)
    finally:
        publisher.stop()
        publisher.join(10)
    stored = app.get_publication(other.id)
    assert stored.state == "published" and stored.receipt_id == AGENCY_SITE_RECEIPT
    assert messages(credit_china) == [("publication", str(penalty.id))]
    # Its period ends by itself; nothing of the end is pushed, and it has no credit repair.
    stored.record_deadline_events(date(2027, 4, 21), CALENDAR, 3)
    assert stored.state == "ended" and stored.pending_notice() is None
    app.save(stored)
    publisher = CreditChinaPublisher(app, settings)
    publisher.start()
    time.sleep(0.5)
    publisher.stop()
    publisher.join(10)
    assert messages(credit_china) == [("publication", str(penalty.id))]
    assert httpx.get(f"{credit_china}/api/v1/penalties").json()["intake_requests"] == 1


def test_an_other_decision_has_no_credit_repair(app: DisclosureApplication) -> None:
    publication = prepared(app)
    publication.publish(published_on=date(2026, 4, 22), receipt_id=AGENCY_SITE_RECEIPT, actor=DISCLOSURE_ACTOR)
    with pytest.raises(IllegalInCurrentState, match="not dishonesty information"):
        publication.apply_for_repair(
            applied_on=date(2026, 12, 1),
            obligations_performed=True,
            commitment={"title": "信用承诺书", "uri": "records://liling/1", "sha256": "a" * 64},
            today=date(2026, 12, 1),
            **NO_KEY,
        )


@pytest.mark.parametrize("ground", ["privacy", "trade_secret"])
def test_an_other_decision_is_withheld_on_the_penaltys_grounds(app: DisclosureApplication, ground: str) -> None:
    withheld = prepared(app, withheld_because=ground)
    assert isinstance(withheld, WithheldDecision) and withheld.ground == ground and withheld.tier == "none"
    # A minor party is never published either (the case service says so from the ID number).
    minor = no_penalty_decision({**on_the_wire(not_penalised(), "/caseledger/case", 0).data, "party_is_minor": True})
    assert withholding(minor, published_by_default=True) == "party_is_minor"
