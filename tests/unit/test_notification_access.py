"""Who gets which events, and who sees which subscriptions: the notification API in
process with real tokens (development keys under a temporary DATA_DIR), a real SQLite
file, the deliveries projection fed CloudEvents as the consumer would, and a real
webhook receiver over HTTP."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from devtools.demo import (
    AGENCY,
    CITY_AGENCY,
    FOREIGN_AGENCY,
    PERSON,
    PERSON_ID,
    POLICE,
    PROCURATORATE,
)
from devtools.tokens import ensure_dev_keys, mint
from devtools.webhooks import WebhookReceiver
from services.case.personal_data import seal_party
from services.infra.consumer import ConsumedEvent
from services.infra.crypto import FieldCipher
from services.infra.projection import apply_events, prepare_tables
from services.infra.runtime import ServiceRuntime
from services.infra.storage import make_engine
from services.notification.delivery import DeliveryWorker, NotificationSettings
from services.notification.main import create_app
from services.notification.readmodel import DeliveryProjection, metadata
from tests.unit.hosts import PUBLIC_ADDRESS, Hosts

HOSTS = Hosts({"hooks.example.org": [PUBLIC_ADDRESS]})
SOURCE = {"case": "/caseledger/case", "referral": "/caseledger/referral"}


@dataclass
class Service:
    """The notification service as a process started with DATA_DIR=data_dir would be."""

    runtime: ServiceRuntime[Any]
    client: httpx.AsyncClient
    data_dir: Path

    def auth(self, roles: list[str], agency: dict[str, str], subject: str | None = None) -> dict[str, str]:
        token = mint(
            self.data_dir,
            roles=roles,
            agency_code=agency["code"],
            region_code=agency["region_code"],
            subject=subject,
            subject_type="system",
        )
        return {"Authorization": f"Bearer {token}"}

    async def subscribe(self, roles: list[str], agency: dict[str, str], **body: Any) -> dict[str, Any]:
        body = {"callback_url": "http://127.0.0.1:9/hooks", "event_types": ["*"], **body}
        response = await self.client.post("/v1/subscriptions", json=body, headers=self.auth(roles, agency))
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def consume(self, *events: ConsumedEvent) -> None:
        """What the consumer loop does with each event: the projection in a transaction."""
        for event in events:
            async with self.runtime.db.begin() as conn:
                await apply_events(conn, DeliveryProjection(), [event])

    async def deliveries(self, roles: list[str], agency: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/deliveries", params=params, headers=self.auth(roles, agency))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Service]:
    for name in ("DATABASE_URL", "AUTH_JWKS_FILE", "AUTH_JWKS_URL", "PII_KEYS"):
        monkeypatch.delenv(name, raising=False)
    ensure_dev_keys(tmp_path)
    # The app a process started with DATA_DIR=tmp_path builds: its token verifier and
    # storage read the development keys and the SQLite files there.
    # Callbacks on 127.0.0.1 over http, as `make run` allows them (tests/unit/test_egress.py
    # shows what production refuses).
    local = NotificationSettings(
        service_name="notification", data_dir=tmp_path, egress_allow_http=True, egress_allowlist=["127.0.0.0/8"]
    )
    app = create_app(local)
    # Test names resolve from a hosts table of the test's, never through DNS.
    app.state.egress = replace(app.state.egress, resolver=HOSTS.resolve)
    runtime: ServiceRuntime[Any] = app.state.runtime
    # The storage the lifespan opens, without its Kafka consumer: the tests feed the projection.
    runtime.engine = make_engine(runtime.settings)
    await prepare_tables(runtime.engine, metadata)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://notification") as client:
            yield Service(runtime, client, tmp_path)
    finally:
        await runtime.engine.dispose()
        runtime.engine = None


def event(kind: str, case_id: str, data: dict[str, Any]) -> ConsumedEvent:
    service = kind.split(".")[0]
    return ConsumedEvent(
        id=str(uuid.uuid4()),
        type=f"cn.caseledger.{kind}.v1",
        source=SOURCE[service],
        subject=case_id,
        time="2026-03-02T08:00:00+00:00",
        data={"case_id": case_id, **data},
        traceparent="",
        topic="caseledger.case-events.v1",
        partition=0,
        offset=0,
    )


def filed(case_id: str, agency: dict[str, str], party: dict[str, Any] | None = None) -> ConsumedEvent:
    party = party or {"kind": "enterprise", "name": "某某花炮厂", "code": "91430281MA4L12345R"}
    return event("case.filed", case_id, {"agency": agency, "party": party, "violation_summary": "未按规定储存烟花爆竹"})


def decided(case_id: str, agency: dict[str, str]) -> ConsumedEvent:
    return event("case.penalty_decided", case_id, {"agency": agency, "decision_number": "(醴)应急罚〔2026〕7号"})


def referred(
    case_id: str, agency: dict[str, str], organ: dict[str, str], copy_to: dict[str, str] | None = None
) -> ConsumedEvent:
    data = {"agency_code": agency["code"], "agency_name": agency["name"], "organ_code": organ["code"]}
    if copy_to:
        data["copy_to_code"] = copy_to["code"]
    return event("referral.referred", case_id, data)


def new_case_id() -> str:
    return str(uuid.uuid4())


INTEGRATION = ["integration"]


async def test_a_county_receives_only_its_own_cases_and_the_city_above_receives_both(service: Service) -> None:
    liling = await service.subscribe(INTEGRATION, AGENCY)
    hetang = await service.subscribe(INTEGRATION, FOREIGN_AGENCY)
    city = await service.subscribe(INTEGRATION, CITY_AGENCY)
    liling_case, hetang_case = new_case_id(), new_case_id()
    await service.consume(filed(liling_case, AGENCY), filed(hetang_case, FOREIGN_AGENCY), decided(liling_case, AGENCY))

    def received(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return sorted((d["case_id"], d["event_type"].split(".")[-2]) for d in items)

    assert received(await service.deliveries(INTEGRATION, AGENCY)) == sorted(
        [(liling_case, "filed"), (liling_case, "penalty_decided")]
    )
    assert received(await service.deliveries(INTEGRATION, FOREIGN_AGENCY)) == [(hetang_case, "filed")]
    assert received(await service.deliveries(INTEGRATION, CITY_AGENCY, subscription_id=city["id"])) == sorted(
        [(liling_case, "filed"), (liling_case, "penalty_decided"), (hetang_case, "filed")]
    )
    # Each delivery went to the subscription it was seen through.
    for sub, agency in ((liling, AGENCY), (hetang, FOREIGN_AGENCY)):
        assert {d["subscription_id"] for d in await service.deliveries(INTEGRATION, agency)} == {sub["id"]}


async def test_an_organ_receives_only_the_referrals_addressed_to_it(service: Service) -> None:
    police = await service.subscribe(["integration", "public_security"], POLICE)
    procuratorate = await service.subscribe(["integration", "procuratorate"], PROCURATORATE)
    assert police["organ_scope"] and procuratorate["organ_scope"]
    case_id = new_case_id()
    to_police = referred(case_id, AGENCY, POLICE)
    to_procuratorate_copy_police = referred(case_id, AGENCY, PROCURATORATE, copy_to=POLICE)
    await service.consume(filed(case_id, AGENCY), decided(case_id, AGENCY), to_police, to_procuratorate_copy_police)

    police_got = await service.deliveries(INTEGRATION, POLICE, subscription_id=police["id"])
    procuratorate_got = await service.deliveries(INTEGRATION, PROCURATORATE, subscription_id=procuratorate["id"])
    assert sorted(d["event_id"] for d in police_got) == sorted([to_police.id, to_procuratorate_copy_police.id])
    assert [d["event_id"] for d in procuratorate_got] == [to_procuratorate_copy_police.id]


async def test_the_same_organ_without_a_receiving_role_follows_jurisdiction(service: Service) -> None:
    # The police station's plain integration is an agency of its county: not the referral route.
    plain = await service.subscribe(INTEGRATION, POLICE)
    assert plain["organ_scope"] is False
    case_id = new_case_id()
    await service.consume(filed(case_id, AGENCY), referred(case_id, AGENCY, POLICE))
    assert await service.deliveries(INTEGRATION, POLICE) == []


async def test_events_of_an_unknown_case_reach_nobody(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    await service.subscribe(INTEGRATION, AGENCY)
    await service.subscribe(["integration", "public_security"], POLICE)
    orphan = new_case_id()
    with caplog.at_level(logging.WARNING, logger="services.notification.readmodel"):
        await service.consume(decided(orphan, AGENCY), referred(orphan, AGENCY, POLICE))
    assert await service.deliveries(INTEGRATION, AGENCY) == []
    assert await service.deliveries(INTEGRATION, POLICE) == []
    assert sum(f"unknown case {orphan}" in r.getMessage() for r in caplog.records) == 2


async def test_a_webhook_for_a_natural_person_carries_the_masked_id_number_only(service: Service) -> None:
    cipher = FieldCipher.from_settings(None, service.data_dir)
    party = seal_party(dict(PERSON), cipher)
    sealed_code = party["code"]["sealed"]
    case_id = new_case_id()
    with WebhookReceiver() as receiver:
        subscription = await service.subscribe(INTEGRATION, AGENCY, callback_url=receiver.url)
        await service.consume(filed(case_id, AGENCY, party))
        worker = DeliveryWorker(service.runtime.settings)  # type: ignore[arg-type]
        async with worker.http_client() as client:
            assert await worker.deliver_due(service.runtime.db, client) == 1
    [webhook] = receiver.received
    body = webhook["body"].decode()
    sent = Webhook(subscription["secret"]).verify(webhook["body"], webhook["headers"])
    assert sent["data"]["party"]["code"] == "430281********1234"
    assert sent["data"]["party"]["phone"] == "138****8000"
    assert sent["data"]["party"]["name"] == PERSON["name"]  # names are not sealed
    for secret in (PERSON_ID, PERSON["phone"], PERSON["address"], sealed_code, '"sealed"'):
        assert secret not in body
    # The delivery log shows exactly what was sent.
    [logged] = await service.deliveries(INTEGRATION, AGENCY)
    assert logged["payload"] == sent
    assert logged["status"] == "delivered"
    assert PERSON_ID not in json.dumps(logged, ensure_ascii=False)


async def test_another_agencys_subscription_and_deliveries_do_not_exist_for_it(service: Service) -> None:
    mine = await service.subscribe(["admin"], AGENCY, description="醴陵 执法系统")
    await service.consume(filed(new_case_id(), AGENCY))
    [delivery] = await service.deliveries(["admin"], AGENCY)
    foreign = service.auth(["admin", "auditor"], FOREIGN_AGENCY)
    for path in (f"/v1/subscriptions/{mine['id']}", f"/v1/deliveries/{delivery['id']}"):
        response = await service.client.get(path, headers=foreign)
        assert response.status_code == 404, path
        assert response.json()["type"] == "/problems/not-found"
    assert (await service.client.delete(f"/v1/subscriptions/{mine['id']}", headers=foreign)).status_code == 404
    assert (await service.client.get("/v1/subscriptions", headers=foreign)).json()["items"] == []
    assert (await service.client.get("/v1/deliveries", headers=foreign)).json()["items"] == []
    # The city's auditor reads its county's subscription; the secret is never shown again.
    seen = await service.client.get(f"/v1/subscriptions/{mine['id']}", headers=service.auth(["auditor"], CITY_AGENCY))
    assert seen.status_code == 200
    assert seen.json()["agency_code"] == AGENCY["code"] and "secret" not in seen.json()
    # Only the owning agency deactivates it.
    city_admin = service.auth(["admin"], CITY_AGENCY)
    assert (await service.client.delete(f"/v1/subscriptions/{mine['id']}", headers=city_admin)).status_code == 404
    owner = service.auth(["admin"], AGENCY, subject="admin-wang@liling")
    assert (await service.client.delete(f"/v1/subscriptions/{mine['id']}", headers=owner)).status_code == 204
    # A deactivated subscription is gone (410, issue 16), still listed with ?active=false.
    gone = await service.client.get(f"/v1/subscriptions/{mine['id']}", headers=owner)
    assert (gone.status_code, gone.json()["type"]) == (410, "/problems/gone")
    assert gone.json()["deactivated_by"] == "admin-wang@liling"
    listed = (await service.client.get("/v1/subscriptions?active=false", headers=owner)).json()["items"]
    assert [(s["id"], s["active"], s["deactivated_by"]) for s in listed] == [(mine["id"], False, "admin-wang@liling")]


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("POST", "/v1/subscriptions", "auditor"),  # reads subscriptions, manages none
        ("DELETE", "/v1/subscriptions/{id}", "auditor"),
        ("GET", "/v1/subscriptions", "officer"),
        ("GET", "/v1/subscriptions/{id}", "public_security"),
        ("GET", "/v1/deliveries", "officer"),
        ("GET", "/v1/deliveries/{id}", "agency_head"),
    ],
)
async def test_a_role_without_the_permission_is_forbidden(service: Service, method: str, path: str, role: str) -> None:
    body = {"callback_url": "http://127.0.0.1:9/hooks", "event_types": ["*"]} if method == "POST" else None
    url = path.format(id=uuid.uuid4())
    response = await service.client.request(method, url, json=body, headers=service.auth([role], AGENCY))
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"
    assert (await service.client.request(method, url, json=body)).status_code == 401


async def test_an_idempotency_key_replays_only_within_its_agency(service: Service) -> None:
    body = {"callback_url": "https://hooks.example.org/caseledger", "event_types": ["cn.caseledger.case.*"]}
    key = {"Idempotency-Key": "sub-2026-0001"}
    liling = service.auth(["admin"], AGENCY, subject="admin-wang@liling")
    first = await service.client.post("/v1/subscriptions", json=body, headers={**liling, **key})
    again = await service.client.post("/v1/subscriptions", json=body, headers={**liling, **key})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["created_by"] == "admin-wang@liling" and first.json()["organ_scope"] is False

    hetang = await service.client.post(
        "/v1/subscriptions", json=body, headers={**service.auth(["admin"], FOREIGN_AGENCY), **key}
    )
    assert hetang.status_code == 201
    assert "Idempotent-Replayed" not in hetang.headers
    assert hetang.json()["id"] != first.json()["id"]
    assert hetang.json()["secret"] != first.json()["secret"]
    assert hetang.json()["agency_code"] == FOREIGN_AGENCY["code"]

    changed = await service.client.post(
        "/v1/subscriptions", json={**body, "event_types": ["*"]}, headers={**liling, **key}
    )
    assert changed.status_code == 422
    assert changed.json()["type"] == "/problems/idempotency-key-reused"
