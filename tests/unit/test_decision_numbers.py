"""Decision numbers (行政处罚决定书文号) are assigned by the system: the agency's short name,
应急罚〔year〕serial号, serials unique and gap-free per agency and year, also when many
decisions are taken at once (on SQLite and on PostgreSQL), and the prefix tied to the agency."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from uuid import UUID

import pytest

from services.case.application import CaseApplication
from services.case.schemas import FileCaseRequest, PenaltyDecisionRequest, PriorNoticeRequest, StatementRequest
from services.common.rules import load_catalogue
from services.infra.errors import RuleViolation
from services.infra.identity import reset_current_actor, set_current_actor
from tests.unit.conftest import OFFICER, OFFICER_ACTOR, TEST_CIPHER

CATALOGUE = load_catalogue()
AGENCY = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281", "short_name": "湘株醴"}
UNIT = {"kind": "enterprise", "name": "醴陵市某某花炮厂", "code": "91430281MA4L12345R"}
OFFICERS = [{"name": "李四", "certificate_no": "43010001"}, {"name": "王五", "certificate_no": "43010002"}]
DECIDED_ON = date(2026, 11, 20)
PARALLEL = 20


def _sqlite(tmp_path: Path) -> dict[str, str]:
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": str(tmp_path / "events.sqlite"),
        "SQLITE_LOCK_TIMEOUT": "10",
    }


def _postgres(url: str) -> dict[str, str]:
    from services.infra.storage import ensure_postgres_database

    ensure_postgres_database(url)
    parts = urlparse(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": "",
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "25",
        "POSTGRES_LOCK_TIMEOUT": "5",
    }


@pytest.fixture(params=["sqlite", "postgres"])
def cases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaseApplication]:
    env = _sqlite(tmp_path) if request.param == "sqlite" else _postgres(request.getfixturevalue("postgres_database"))
    app = CaseApplication(env=env, cipher=TEST_CIPHER, catalogue=CATALOGUE)
    yield app
    app.close()


def notified_case(app: CaseApplication, agency: dict[str, Any] = AGENCY) -> UUID:
    """A case whose one respondent has been notified and waived: ready to decide."""
    filing = FileCaseRequest.model_validate(
        {
            "agency": agency,
            "party": UNIT,
            "violation_summary": "未按规定开展安全生产教育培训",
            "violation_date": "2026-10-01",
            "legal_basis": "《安全生产法》第九十七条第三项",
            "officers": OFFICERS,
            "filed_on": "2026-11-02",
        }
    )
    case, _ = app.file_case(OFFICER, filing, None)
    notice = PriorNoticeRequest.model_validate(
        {
            "facts": "未开展培训",
            "legal_basis": "《安全生产法》第九十七条第三项",
            "intended_penalties": [{"kind": "fine", "amount_yuan": 10000}],
            "notified_on": "2026-11-09",
        }
    )
    app.command(OFFICER, case.id, "serve_prior_notice", notice, None, None, respondent=1)
    waiver = StatementRequest.model_validate({"kind": "waiver", "summary": "放弃陈述申辩", "received_on": "2026-11-09"})
    app.command(OFFICER, case.id, "record_statement", waiver, None, None, respondent=1)
    return case.id


DECISION = PenaltyDecisionRequest.model_validate(
    {
        "penalties": [{"kind": "fine", "amount_yuan": 10000}],
        "discretion": {"level": "general", "benchmark": "裁量基准 第12项"},
        "performance_how": "十五日内缴至指定银行",
        "reconsideration_organ": "醴陵市人民政府",
        "court": "醴陵市人民法院",
        "decided_on": DECIDED_ON.isoformat(),
    }
)


def test_parallel_decisions_get_distinct_consecutive_serials(cases: CaseApplication) -> None:
    case_ids = [notified_case(cases) for _ in range(PARALLEL)]
    numbers: dict[UUID, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(PARALLEL)

    def decide(case_id: UUID) -> None:
        token = set_current_actor(OFFICER_ACTOR)
        try:
            start.wait()
            case, _ = cases.decide_penalty(OFFICER, case_id, 1, DECISION, f"decide-{case_id}", None)
            numbers[case_id] = str(case.tracks[0].decision_number)
        except BaseException as error:
            errors.append(error)
        finally:
            reset_current_actor(token)

    threads = [threading.Thread(target=decide, args=(case_id,)) for case_id in case_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    serials = sorted(int(re.fullmatch(r"\(湘株醴\)应急罚〔2026〕(\d+)号", n).group(1)) for n in numbers.values())  # type: ignore[union-attr]
    assert serials == list(range(1, PARALLEL + 1))
    # A retried decision keeps its number and takes no second one.
    again, replayed = cases.decide_penalty(OFFICER, case_ids[0], 1, DECISION, f"decide-{case_ids[0]}", None)
    assert replayed and again.tracks[0].decision_number == numbers[case_ids[0]]
    next_case = notified_case(cases)
    decided, _ = cases.decide_penalty(OFFICER, next_case, 1, DECISION, None, None)
    assert decided.tracks[0].decision_number == f"(湘株醴)应急罚〔2026〕{PARALLEL + 1}号"


def test_the_prefix_is_tied_to_the_agency(tmp_path: Path) -> None:
    app = CaseApplication(env=_sqlite(tmp_path), cipher=TEST_CIPHER, catalogue=CATALOGUE)
    try:
        first = notified_case(app)
        app.decide_penalty(OFFICER, first, 1, DECISION, None, None)
        other_prefix = notified_case(app, {**AGENCY, "short_name": "醴"})
        with pytest.raises(RuleViolation) as refused:
            app.decide_penalty(OFFICER, other_prefix, 1, DECISION, None, None)
        assert refused.value.rule == "agency-prefix"
        assert app.get_case(other_prefix).tracks[0].state == "notified", "nothing recorded"
        no_prefix = notified_case(app, {k: v for k, v in AGENCY.items() if k != "short_name"})
        with pytest.raises(RuleViolation) as missing:
            app.decide_penalty(OFFICER, no_prefix, 1, DECISION, None, None)
        assert missing.value.rule == "agency-prefix-required"
        given = DECISION.model_copy(update={"agency_short_name": "湘株醴"})
        decided, _ = app.decide_penalty(OFFICER, no_prefix, 1, given, None, None)
        assert decided.tracks[0].decision_number == "(湘株醴)应急罚〔2026〕2号"
    finally:
        app.close()
