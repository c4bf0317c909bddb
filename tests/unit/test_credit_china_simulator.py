"""The Credit China (信用中国) simulator over real HTTP: the contract it enforces is the one
the disclosure publisher must meet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.credit_china import running

ENTERPRISE_ITEM: dict[str, Any] = {
    "party_name": "醴陵市某某烟花爆竹有限公司",
    "party_category": "legal_person",
    "party_code": "91430281MA4L12345R",
    "legal_representative": "李四",
    "decision_number": "(醴)应急罚〔2026〕12号",
    "violation_type": "未按规定储存烟花爆竹",
    "violation_facts": "该公司在仓库外违规储存烟花爆竹",
    "legal_basis": "《中华人民共和国安全生产法》第一百零一条",
    "penalty_category": "罚款",
    "penalty_content": "罚款人民币35000元",
    "fine_amount_wan_yuan": "3.500000",
    "confiscated_amount_wan_yuan": "0.000000",
    "licence": "",
    "decision_date": "2026-09-29",
    "penalty_validity": "2099-12-31",
    "publication_end_date": "2027-09-29",
    "deciding_agency": "醴陵市应急管理局",
    "deciding_agency_code": "11430281MB1234567L",
    "data_source": "醴陵市应急管理局",
    "data_source_code": "11430281MB1234567L",
    "remarks": "",
}
PERSON_ITEM = {
    **ENTERPRISE_ITEM,
    "party_name": "黄某某",
    "party_category": "natural_person",
    "party_code": "",
    "legal_representative": "",
}


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with running() as base_url, httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


def submit(
    client: httpx.Client, item: dict[str, Any], publication_id: str | None = None, **extra: Any
) -> httpx.Response:
    publication_id = publication_id or str(uuid.uuid4())
    body = {"publication_id": publication_id, "item": item, **extra}
    return client.post("/api/v1/penalties", json=body, headers={"Idempotency-Key": publication_id})


def pointers(response: httpx.Response) -> list[str]:
    return [e["pointer"] for e in response.json()["errors"]]


def test_healthz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize("item", [ENTERPRISE_ITEM, PERSON_ITEM], ids=["enterprise", "natural-person"])
def test_valid_item_accepted_and_kept(client: httpx.Client, item: dict[str, Any]) -> None:
    publication_id = str(uuid.uuid4())
    response = submit(client, item, publication_id)
    assert response.status_code == 201
    receipt_id = response.json()["receipt_id"]
    stored = client.get(f"/api/v1/penalties/{publication_id}").json()
    assert stored["receipt_id"] == receipt_id and stored["item"] == item
    assert [r["publication_id"] for r in client.get("/api/v1/penalties").json()["items"]] == [publication_id]


def test_missing_and_malformed_fields_rejected_by_name(client: httpx.Client) -> None:
    item = {k: v for k, v in ENTERPRISE_ITEM.items() if k != "legal_basis"}
    item["fine_amount_wan_yuan"] = "35000"  # yuan, not 万元 with 6 decimals
    item["decision_date"] = "2026-02-30"
    response = submit(client, item)
    assert response.status_code == 400
    body = response.json()
    assert "/item/fine_amount_wan_yuan" in pointers(response)
    assert "/item/decision_date" in pointers(response)
    assert any("legal_basis" in e["detail"] for e in body["errors"])
    assert client.get("/api/v1/penalties").json()["items"] == []


def test_natural_person_id_number_rejected(client: httpx.Client) -> None:
    response = submit(client, {**PERSON_ITEM, "party_code": "430281198001011234"})
    assert response.status_code == 400
    assert "/item/party_code" in pointers(response)


def test_unmasked_natural_person_name_rejected(client: httpx.Client) -> None:
    response = submit(client, {**PERSON_ITEM, "party_name": "黄小明"})
    assert response.status_code == 400
    assert "/item/party_name" in pointers(response)


@pytest.mark.parametrize("field", ["id_number", "address", "phone", "party_address", "contact_phone"])
def test_personal_data_fields_rejected(client: httpx.Client, field: str) -> None:
    response = submit(client, {**PERSON_ITEM, field: "x"})
    assert response.status_code == 400
    assert field in response.json()["error"] + str(response.json()["errors"])
    top_level = submit(client, PERSON_ITEM, **{field: "x"})
    assert top_level.status_code == 400


def test_repeated_publication_id_gives_the_same_receipt(client: httpx.Client) -> None:
    publication_id = str(uuid.uuid4())
    first = submit(client, ENTERPRISE_ITEM, publication_id)
    again = submit(client, ENTERPRISE_ITEM, publication_id)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["receipt_id"] == first.json()["receipt_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(client.get("/api/v1/penalties").json()["items"]) == 1
    changed = submit(client, {**ENTERPRISE_ITEM, "remarks": "changed"}, publication_id)
    assert changed.status_code == 409


def test_fail_next_answers_503_then_recovers(client: httpx.Client) -> None:
    assert client.post("/_control/fail-next", json={"count": 2}).status_code == 200
    assert submit(client, ENTERPRISE_ITEM).status_code == 503
    assert submit(client, ENTERPRISE_ITEM).status_code == 503
    assert submit(client, ENTERPRISE_ITEM).status_code == 201


def test_unknown_penalty_is_404(client: httpx.Client) -> None:
    assert client.get(f"/api/v1/penalties/{uuid.uuid4()}").status_code == 404


# -- notices: a record withdrawn, ended or repaired ----------------------------------------


def notify_body(publication_id: str, notice: str) -> dict[str, Any]:
    return {
        "publication_id": publication_id,
        "notice": notice,
        "decision_number": "(醴)应急罚〔2026〕12号",
        "effective_on": "2026-11-20",
        "reason": "该行政处罚决定已经行政复议被撤销",
    }


def notify(client: httpx.Client, publication_id: str, path_notice: str, **overrides: Any) -> httpx.Response:
    body = {**notify_body(publication_id, path_notice), **overrides}
    return client.post(
        f"/api/v1/penalties/{publication_id}/{path_notice}",
        json=body,
        headers={"Idempotency-Key": f"{publication_id}:{path_notice}"},
    )


def test_a_notice_is_accepted_once_and_recorded_in_order(client: httpx.Client) -> None:
    publication_id = str(uuid.uuid4())
    assert submit(client, ENTERPRISE_ITEM, publication_id).status_code == 201
    first = notify(client, publication_id, "withdrawal")
    assert first.status_code == 201
    again = notify(client, publication_id, "withdrawal")
    assert again.status_code == 200 and again.json()["receipt_id"] == first.json()["receipt_id"]
    stored = client.get(f"/api/v1/penalties/{publication_id}").json()
    assert (
        stored["status"] == "withdrawn" and stored["notices"]["withdrawal"]["receipt_id"] == first.json()["receipt_id"]
    )
    kinds = [(m["kind"], m["publication_id"]) for m in client.get("/api/v1/messages").json()["items"]]
    assert kinds == [("publication", publication_id), ("withdrawal", publication_id)]
    # Withdrawn: it cannot also end or be repaired.
    assert notify(client, publication_id, "end").status_code == 409


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"reason": ""}, "/reason"),
        # Personal data in the published reason (what the disclosure service must refuse).
        ({"reason": "信用修复：黄小明（身份证430281198001011234）已缴清罚款"}, "/reason"),
        ({"reason": "信用修复：联系电话13800138000"}, "/reason"),
        ({"effective_on": "2026-13-01"}, "/effective_on"),
        ({"decision_number": "醴应急罚2026-1"}, "/decision_number"),
        ({"phone": "13800138000"}, ""),
    ],
)
def test_a_malformed_notice_is_rejected_by_name(client: httpx.Client, overrides: dict[str, Any], pointer: str) -> None:
    publication_id = str(uuid.uuid4())
    submit(client, ENTERPRISE_ITEM, publication_id)
    response = notify(client, publication_id, "end", **overrides)
    assert response.status_code == 400
    assert pointer in pointers(response) or (pointer == "" and "additionalProperties" in response.text)
    assert client.get(f"/api/v1/penalties/{publication_id}").json()["status"] == "published"


def test_a_notice_must_name_its_path_and_a_record_accepted_before(client: httpx.Client) -> None:
    publication_id = str(uuid.uuid4())
    submit(client, ENTERPRISE_ITEM, publication_id)
    other = notify(client, publication_id, "end", notice="repair")
    assert other.status_code == 400 and pointers(other) == ["/notice"]  # the one that differs
    elsewhere = client.post(
        f"/api/v1/penalties/{publication_id}/end",
        json={**notify_body(str(uuid.uuid4()), "end")},
        headers={"Idempotency-Key": f"{publication_id}:end"},
    )
    assert elsewhere.status_code == 400 and pointers(elsewhere) == ["/publication_id"]
    assert notify(client, str(uuid.uuid4()), "repair").status_code == 404  # never published
    assert client.post(f"/api/v1/penalties/{publication_id}/erase", json={}).status_code == 404
