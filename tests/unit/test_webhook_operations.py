# ruff: noqa: F811 - the tests take the notification service fixture imported below
"""Webhook operations for integrators, on the notification API in process with real tokens,
a real SQLite file and a real webhook receiver over HTTP: PATCH a subscription (its URL
held to the egress guard), rotate its secret (both signatures verify during the overlap),
ping the callback, and dead letters that are listed and sent again."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from standardwebhooks import Webhook

from devtools.demo import AGENCY, FOREIGN_AGENCY
from devtools.webhooks import WebhookReceiver
from services.notification.delivery import DeliveryWorker, NotificationSettings
from services.notification.domain import PING_TYPE, generate_secret
from tests.unit.test_notification_access import Service, filed, service  # noqa: F401 - the fixture

INTEGRATION = ["integration"]


async def send_due(service: Service, **settings: Any) -> int:
    """One round of the delivery worker, as its thread runs it."""
    settings = {"webhook_retry_min_s": 0, **settings}
    worker = DeliveryWorker(NotificationSettings.model_validate(service.runtime.settings.model_dump() | settings))
    async with worker.http_client() as client:
        return await worker.deliver_due(service.runtime.db, client)


async def test_patch_changes_a_subscription_and_holds_its_url_to_the_egress_guard(service: Service) -> None:
    created = await service.subscribe(INTEGRATION, AGENCY, description="市局平台")
    url = f"/v1/subscriptions/{created['id']}"
    manager = service.auth(INTEGRATION, AGENCY)

    changed = await service.client.patch(
        url,
        json={"event_types": ["cn.caseledger.case.*"], "description": "市局执法平台", "active": False},
        headers=manager,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["event_types"], body["description"], body["active"]) == (
        ["cn.caseledger.case.*"],
        "市局执法平台",
        False,
    )
    assert body["deactivated_by"] and body["deactivated_at"]
    again = (await service.client.patch(url, json={"active": True}, headers=manager)).json()
    assert (again["active"], again["deactivated_by"], again["deactivated_at"]) == (True, None, None)

    private = await service.client.patch(url, json={"callback_url": "http://10.1.2.3/hooks"}, headers=manager)
    assert private.status_code == 422
    assert private.json()["errors"][0] == {
        "pointer": "/callback_url",
        "in": "body",
        "rule": "address-not-public",
        "detail": private.json()["errors"][0]["detail"],
    }
    moved = await service.client.patch(url, json={"callback_url": "https://hooks.example.org/v2"}, headers=manager)
    assert moved.status_code == 200 and moved.json()["callback_url"] == "https://hooks.example.org/v2"

    unknown_field = await service.client.patch(url, json={"secret": generate_secret()}, headers=manager)
    assert unknown_field.status_code == 422
    foreign = await service.client.patch(url, json={"active": False}, headers=service.auth(INTEGRATION, FOREIGN_AGENCY))
    assert foreign.status_code == 404
    auditor = await service.client.patch(url, json={"active": False}, headers=service.auth(["auditor"], AGENCY))
    assert auditor.status_code == 403


async def test_a_rotated_secret_and_the_old_one_both_verify_during_the_overlap(service: Service) -> None:
    old = generate_secret()
    with WebhookReceiver() as receiver:
        created = await service.subscribe(INTEGRATION, AGENCY, callback_url=receiver.url, secret=old)
        manager = service.auth(INTEGRATION, AGENCY)
        rotated = await service.client.post(
            f"/v1/subscriptions/{created['id']}/secret-rotations", json={"overlap_seconds": 3600}, headers=manager
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old and rotated.json()["previous_secret_expires_at"]
        shown = (await service.client.get(f"/v1/subscriptions/{created['id']}", headers=manager)).json()
        assert "secret" not in shown and shown["previous_secret_expires_at"]

        await service.consume(filed(str(uuid.uuid4()), AGENCY))
        assert await send_due(service) == 1
        [hook] = receiver.received
        assert len(hook["headers"]["webhook-signature"].split(" ")) == 2
        for secret in (old, new):  # a receiver still on the old secret, and one already on the new
            assert Webhook(secret).verify(hook["body"], hook["headers"])["type"] == "cn.caseledger.case.filed.v1"

        # The overlap over (a rotation with none): only the newest secret signs.
        newest = (
            await service.client.post(
                f"/v1/subscriptions/{created['id']}/secret-rotations", json={"overlap_seconds": 0}, headers=manager
            )
        ).json()["secret"]
        await service.consume(filed(str(uuid.uuid4()), AGENCY))
        assert await send_due(service) == 1
        last = receiver.received[-1]
        assert len(last["headers"]["webhook-signature"].split(" ")) == 1
        Webhook(newest).verify(last["body"], last["headers"])
        with pytest.raises(Exception, match="signature"):
            Webhook(new).verify(last["body"], last["headers"])


async def test_a_ping_sends_one_signed_test_event_now(service: Service) -> None:
    secret = generate_secret()
    with WebhookReceiver() as receiver:
        created = await service.subscribe(INTEGRATION, AGENCY, callback_url=receiver.url, secret=secret)
        answer = await service.client.post(
            f"/v1/subscriptions/{created['id']}/pings", headers=service.auth(INTEGRATION, AGENCY)
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() | {"event_id": None} == {
            "event_id": None,
            "accepted": True,
            "status_code": 204,
            "error": None,
        }
        [hook] = receiver.received
    assert hook["headers"]["content-type"] == "application/cloudevents+json"
    ping = Webhook(secret).verify(hook["body"], hook["headers"])
    assert (ping["type"], ping["id"], ping["subject"]) == (PING_TYPE, answer.json()["event_id"], created["id"])
    assert "测试推送" in hook["body"].decode()
    # Not a delivery: the log of deliveries stays empty.
    assert await service.deliveries(INTEGRATION, AGENCY) == []

    closed = await service.subscribe(INTEGRATION, AGENCY, callback_url="http://127.0.0.1:9/hooks")
    refused = await service.client.post(
        f"/v1/subscriptions/{closed['id']}/pings", headers=service.auth(INTEGRATION, AGENCY)
    )
    assert refused.json() | {"event_id": None} == {
        "event_id": None,
        "accepted": False,
        "status_code": None,
        "error": "ConnectError",
    }


async def test_a_delivery_that_keeps_failing_is_a_dead_letter_listed_and_sent_again(service: Service) -> None:
    manager = service.auth(INTEGRATION, AGENCY)
    created = await service.subscribe(INTEGRATION, AGENCY, callback_url="http://127.0.0.1:9/hooks")
    await service.consume(filed(str(uuid.uuid4()), AGENCY), filed(str(uuid.uuid4()), AGENCY))
    assert await send_due(service, webhook_max_attempts=1) == 2  # nothing listens on port 9
    dead = await service.deliveries(INTEGRATION, AGENCY, status="dead_letter")
    assert len(dead) == 2 and {d["last_error"] for d in dead} == {"ConnectError"}
    assert all(d["next_attempt_at"] is None and d["attempts"] == 1 for d in dead)
    assert await send_due(service) == 0  # a dead letter is not tried again by itself

    with WebhookReceiver() as receiver:
        moved = await service.client.patch(
            f"/v1/subscriptions/{created['id']}", json={"callback_url": receiver.url}, headers=manager
        )
        assert moved.status_code == 200
        one = await service.client.post(f"/v1/deliveries/{dead[0]['id']}/redeliveries", headers=manager)
        assert one.status_code == 200, one.text
        assert (one.json()["status"], one.json()["attempts"], one.json()["redeliveries"]) == ("pending", 0, 1)
        rest = await service.client.post(
            f"/v1/subscriptions/{created['id']}/dead-letters/redeliveries", headers=manager
        )
        assert rest.json() == {"redelivered": 1}
        assert await send_due(service) == 2
        assert await service.deliveries(INTEGRATION, AGENCY, status="dead_letter") == []
        delivered = await service.deliveries(INTEGRATION, AGENCY, status="delivered")
        assert sorted(d["redeliveries"] for d in delivered) == [1, 1]

        # A delivered one can be asked for again too (the receiver lost it): same webhook-id.
        again = await service.client.post(f"/v1/deliveries/{delivered[0]['id']}/redeliveries", headers=manager)
        assert again.json()["redeliveries"] == 2
        assert await send_due(service) == 1
        ids = [h["headers"]["webhook-id"] for h in receiver.received]
    assert len(ids) == 3 and ids.count(delivered[0]["event_id"]) == 2
    assert json.loads(receiver.received[-1]["body"])["id"] == delivered[0]["event_id"]

    foreign = await service.client.post(
        f"/v1/deliveries/{dead[0]['id']}/redeliveries", headers=service.auth(INTEGRATION, FOREIGN_AGENCY)
    )
    assert foreign.status_code == 404
    await service.client.patch(f"/v1/subscriptions/{created['id']}", json={"active": False}, headers=manager)
    inactive = await service.client.post(f"/v1/deliveries/{dead[0]['id']}/redeliveries", headers=manager)
    assert inactive.status_code == 409 and inactive.json()["current_state"] == "subscription inactive"
