"""The scale bench's cases (devtools/bench/scale_cases.py): copies of real case histories
that the ledger projection takes and the API's ledger page accepts, each copy its own case,
agency, enterprise, dates and decision numbers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from kafka import TopicPartition

from devtools.bench.report import MISS, PASS
from devtools.bench.scale import AtMost, queries
from devtools.bench.scale_cases import TOPIC, case_histories
from services.case.readmodel import CaseLedgerProjection, LedgerFilter, ledger_page
from services.case.schemas import LedgerPage
from services.infra.consumer import ConsumedEvent
from services.infra.identity import Principal
from services.infra.projection import ProjectionRunner
from services.infra.settings import Settings
from tests.unit.conftest import TEST_CIPHER

PROVINCIAL_AUDITOR = Principal(
    subject="auditor@province",
    subject_type="person",
    agency_code="11430000MB0000000X",
    region_code="430000",
    roles=frozenset({"auditor"}),
    agency_name="湖南省应急管理厅",
)


def test_copied_cases_fill_the_ledger_as_distinct_valid_cases(tmp_path: Path) -> None:
    histories = list(case_histories(TEST_CIPHER, 120))
    kinds = Counter(kind for kind, _ in histories)
    assert len(kinds) >= 6  # every point of the procedure is copied
    events: list[ConsumedEvent] = [e for _, history in histories for e in history]
    assert len({e.id for e in events}) == len(events)
    runner = ProjectionRunner(Settings(service_name="case", data_dir=tmp_path), CaseLedgerProjection(TEST_CIPHER))
    try:
        runner.apply(TopicPartition(TOPIC, 0), events, len(events) - 1, "scale")
        page = runner.loop.run_until_complete(
            ledger_page(runner.engine, TEST_CIPHER, PROVINCIAL_AUDITOR, LedgerFilter(), limit=200, cursor=None)
        )
    finally:
        runner.close()
    items = page["items"]
    assert len(items) == 120 and len({i["case_id"] for i in items}) == 120
    assert len({i["agency_code"] for i in items}) > 30 and len({i["filed_on"] for i in items}) > 60
    numbers = [r["decision_number"] for i in items for r in i["respondents"] if r["decision_number"]]
    assert numbers and len(set(numbers)) == len(numbers)
    assert {i["status"] for i in items} >= {"filed", "notified", "decided", "archived", "dismissed"}
    LedgerPage.model_validate(page)  # what GET /v1/cases answers: valid, numbers and codes alike


def test_each_query_is_a_target_at_most_50_ms() -> None:
    target = AtMost("p99", "max_value", 50.0, "p99 <= 50 ms")
    assert target.result(50.0, None) == PASS and target.result(50.1, None) == MISS
    made = queries({"party_code": "91430281MA4L12345R", "decision_number": "(醴)应急罚〔2026〕1号"}, 200_000)
    assert len({q.name for q in made}) == len(made)
    assert [q.cursor_depth for q in made if q.cursor_depth] == [2_000, 100_000, 199_900, 10_000]
