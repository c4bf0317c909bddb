"""Case histories for the scale bench: a few real cases made by the domain (``Case``), each
at another point of the procedure, then copied as many times as wanted with another case
id, agency and region, another enterprise, its dates moved by up to two years and its
decision numbers made unique, as the consumer would read them from Kafka.

Made by the domain, so every event is one the case service writes (its data, its
deadlines, the principal's ID number sealed with the service's key ring); copied, so
200,000 cases take seconds rather than the domain's rule checks 200,000 times over.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from services.case.domain import Case, decision_number
from services.common.rules import load_catalogue
from services.infra.consumer import ConsumedEvent, parse_record
from services.infra.crypto import FieldCipher
from services.infra.eventstore import to_kafka_message
from services.infra.identity import reset_current_actor, set_current_actor

TOPIC = "caseledger.case-events.v1"
SOURCE = "/caseledger/case"
# The templates' agency, enterprise and person; every copy has its own agency and enterprise.
AGENCY: Any = {"code": "11430281MB1234567L", "name": "醴陵市应急管理局", "region_code": "430281", "short_name": "醴"}
UNIT: Any = {"kind": "enterprise", "name": "醴陵市某某花炮厂", "code": "91430281MA4L12345R", "role": "unit"}
PRINCIPAL: Any = {
    "kind": "natural_person",
    "name": "张三",
    "code": "430281198001011234",
    "role": "principal_responsible_person",
}
OFFICERS: Any = [{"name": "李四", "certificate_no": "43010001"}, {"name": "王五", "certificate_no": "43010002"}]
DOC: Any = {"title": "询问笔录", "uri": "records://liling/2026/0001", "sha256": "a" * 64}
DISCRETION: Any = {"level": "general", "benchmark": "湖南省安全生产行政处罚自由裁量基准 第12项 一般"}
NO_KEY: Any = {"command_key": "", "command_fingerprint": ""}
LATEST = date(2026, 12, 31)
DECIDED = date(2026, 9, 16)  # the templates' decisions, a Wednesday
# Hunan's cities (4301 .. 4331) and a few counties each: the agencies a province oversees.
CITIES = ("4301", "4302", "4303", "4304", "4305", "4306", "4307", "4308", "4309", "4310", "4311", "4312", "4313")
COUNTIES_PER_CITY = 9
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Template:
    """A real case's events, its data as JSON text to copy from, and how often it is copied."""

    name: str
    weight: float
    events: list[ConsumedEvent]
    data_json: list[str]
    decision_numbers: list[str]


class _Domain:
    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher
        self.catalogue = load_catalogue()

    def filed(self, respondents: list[Any], filed_on: date) -> Case:
        return Case.file(
            case_id=None,
            agency=AGENCY,
            respondents=respondents,
            violation_summary="未按规定对从业人员进行安全生产教育和培训",
            violation_date=filed_on - timedelta(days=20),
            harm_caused=False,
            legal_basis="《安全生产法》第九十七条第三项",
            officers=OFFICERS,
            filed_on=filed_on,
            cipher=self.cipher,
            catalogue=self.catalogue,
            latest=LATEST,
            **NO_KEY,
        )

    def notified(self, case: Case, respondent: int, yuan: int, on: date) -> None:
        case.serve_prior_notice(
            respondent=respondent,
            notified_on=on,
            facts="经查，该厂未按规定开展安全生产教育和培训",
            legal_basis="《安全生产法》第九十七条第三项",
            intended_penalties=[{"kind": "fine", "amount_yuan": yuan}],
            document=None,
            catalogue=self.catalogue,
            latest=LATEST,
            **NO_KEY,
        )

    def decided(self, fines: tuple[int, ...], on: date) -> Case:
        case = self.filed([UNIT, PRINCIPAL][: len(fines)], on - timedelta(days=45))
        for number, yuan in enumerate(fines, start=1):
            self.notified(case, number, yuan, on - timedelta(days=38))
            case.record_statement(
                respondent=number,
                kind="waiver",
                received_on=on - timedelta(days=37),
                summary="当事人放弃陈述申辩",
                document=None,
                latest=LATEST,
                **NO_KEY,
            )
            case.decide_penalty(
                respondent=number,
                decision_number=decision_number("醴", on.year, number),
                serial=number,
                decided_on=on,
                penalties=[{"kind": "fine", "amount_yuan": yuan}],
                discretion=DISCRETION,
                performance_how="自收到本决定书之日起十五日内缴至指定银行",
                reconsideration_organ="醴陵市人民政府",
                court="醴陵市人民法院",
                hearing_record_sha256=None,
                catalogue=self.catalogue,
                cipher=self.cipher,
                latest=LATEST,
                **NO_KEY,
            )
        return case

    def served(self, case: Case, respondent: int, on: date) -> None:
        case.serve_decision(
            respondent=respondent,
            method="on_the_spot",
            served_on=on,
            published_on=None,
            document=DOC,
            catalogue=self.catalogue,
            latest=LATEST,
            **NO_KEY,
        )

    def paid(self, case: Case, respondent: int, on: date, yuan: int) -> None:
        case.record_payment(
            respondent=respondent,
            paid_on=on,
            amount_fen=yuan * 100,
            bank="中国农业银行醴陵支行",
            receipt_reference=f"R-{respondent}",
            latest=LATEST,
            **NO_KEY,
        )


def _cases(domain: _Domain) -> list[tuple[str, float, Case]]:
    """The templates, with their shares of the ledger: most cases are still open."""
    on = DECIDED
    investigating = domain.filed([UNIT], date(2026, 9, 2))
    notified = domain.filed([UNIT], date(2026, 9, 2))
    domain.notified(notified, 1, 20_000, date(2026, 9, 9))
    decided = domain.decided((10_000, 5_000), on)  # 一案双罚: the unit and its principal
    served = domain.decided((30_000,), on)
    domain.served(served, 1, on)
    reminded = domain.decided((8_000,), on)
    domain.served(reminded, 1, on)
    reminded.serve_reminder(
        respondent=1, served_on=date(2026, 10, 12), document=DOC, catalogue=domain.catalogue, latest=LATEST, **NO_KEY
    )
    archived = domain.decided((10_000,), on)
    domain.served(archived, 1, on)
    domain.paid(archived, 1, date(2026, 10, 8), 10_000)
    archived.close_case(closed_on=date(2026, 10, 9), summary="罚款已缴纳，结案", latest=LATEST, **NO_KEY)
    archived.archive_case(archived_on=date(2026, 10, 10), archive_reference="醴应急档1号", latest=LATEST, **NO_KEY)
    dismissed = domain.filed([UNIT], date(2026, 9, 2))
    dismissed.dismiss(dismissed_on=date(2026, 9, 20), reason="违法事实不能成立", latest=LATEST, **NO_KEY)
    return [
        ("investigating", 0.25, investigating),
        ("notified", 0.15, notified),
        ("decided", 0.15, decided),
        ("served", 0.15, served),
        ("reminded", 0.05, reminded),
        ("archived", 0.20, archived),
        ("dismissed", 0.05, dismissed),
    ]


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    value: bytes


# Who the templates' events say acted: an officer of the templates' agency (an actor is
# what the access guard sets for every command).
ACTOR = {
    "subject": "officer-li@11430281MB1234567L",
    "subject_type": "person",
    "name": "李四",
    "agency_code": AGENCY["code"],
    "region_code": AGENCY["region_code"],
    "role": "officer",
    "on_behalf_of": None,
    "reason": None,
    "trace_id": None,
}


def templates(cipher: FieldCipher) -> list[Template]:
    made = []
    acting = set_current_actor(ACTOR)
    try:
        cases = _cases(_Domain(cipher))
    finally:
        reset_current_actor(acting)
    for name, weight, case in cases:
        events = []
        for domain_event in case.collect_events():
            parsed = parse_record(_Record(TOPIC, 0, 0, to_kafka_message(domain_event, SOURCE).value))
            assert parsed is not None
            events.append(parsed)
        numbers = sorted({str(e.data["decision_number"]) for e in events if "decision_number" in e.data})
        made.append(Template(name, weight, events, [json.dumps(e.data, ensure_ascii=False) for e in events], numbers))
    return made


def agencies() -> list[dict[str, str]]:
    """A province's county agencies: 13 cities of 9 counties."""
    found = []
    for c, city in enumerate(CITIES):
        for county in range(1, COUNTIES_PER_CITY + 1):
            region = f"{city}{county:02d}"
            found.append(
                {
                    "code": f"11{region}MB{c * 100 + county:07d}X",
                    "name": f"{region}应急管理局",
                    "region_code": region,
                    "short_name": f"{region}",
                }
            )
    return found


def case_histories(cipher: FieldCipher, count: int, seed: int = 18) -> Iterator[tuple[str, list[ConsumedEvent]]]:
    """``count`` cases, each (its template's name, its events in order)."""
    rng = random.Random(seed)
    made = templates(cipher)
    pool = agencies()
    weights = [t.weight for t in made]
    for n in range(count):
        template = rng.choices(made, weights)[0]
        agency = pool[rng.randrange(len(pool))]
        shift = timedelta(days=-rng.randrange(0, 730))
        yield template.name, _copy(template, n, agency, shift)


def _copy(template: Template, n: int, agency: dict[str, str], shift: timedelta) -> list[ConsumedEvent]:
    case_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"caseledger-scale/{n}"))
    template_id = template.events[0].subject
    unit_code = f"91{agency['region_code']}{n:09d}X"
    moved: dict[str, str] = {}

    def move(match: re.Match[str]) -> str:
        day = match.group(0)
        if day not in moved:
            moved[day] = (date.fromisoformat(day) + shift).isoformat()
        return moved[day]

    swaps: list[tuple[str, str]] = [
        (template_id, case_id),
        (AGENCY["code"], agency["code"]),
        (AGENCY["name"], agency["name"]),
        (f'"{AGENCY["region_code"]}"', f'"{agency["region_code"]}"'),
        (UNIT["code"], unit_code),
        (UNIT["name"], f"{agency['region_code']}某某企业{n}"),
    ]
    # (abbreviation)应急罚〔year〕serial号: the agency's region, the year decided, a serial unique in the run.
    year = (DECIDED + shift).year
    swaps += [
        (number, f"({agency['region_code']})应急罚〔{year}〕{n * 2 + k + 1}号")
        for k, number in enumerate(template.decision_numbers)
    ]
    copied = []
    for event, text in zip(template.events, template.data_json, strict=True):
        for old, new in swaps:
            text = text.replace(old, new)
        data = json.loads(_DATE.sub(move, text))
        copied.append(
            replace(
                event,
                id=str(uuid.uuid4()),
                subject=case_id,
                aggregate_id=case_id,
                partitionkey=case_id,
                time=_DATE.sub(move, event.time),
                data=data,
            )
        )
    return copied
