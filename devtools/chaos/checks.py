"""The checks on what the system holds once settled: commands, the topic, publications
and webhooks. Each records its counts and failures in the report."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from devtools.chaos.clients import Command
from devtools.chaos.facts import DECIDED_TOPIC, PREPARED_TOPIC, PUBLISHED_TOPIC, RECEIVING_ORGAN, REFERRED_TOPIC
from devtools.chaos.receiver import Subscriber
from devtools.chaos.report import ChaosReport
from devtools.chaos.stores import StoredEvent
from devtools.demo import AGENCY
from services.case.application import CASE_ID_NAMESPACE
from services.common import event_types
from services.disclosure.domain import publication_id_for
from services.infra.consumer import ConsumedEvent, parse_record
from services.notification.domain import cloud_event_envelope, matches
from services.referral.domain import referral_id_for


def check_commands(
    report: ChaosReport,
    commands: Sequence[Command],
    stores: dict[str, list[StoredEvent]],
    subscriptions: list[dict[str, Any]],
) -> None:
    """Each command answered 2xx stored exactly once; nothing stored twice, whoever asked."""
    c = report.counts
    case_events = stores["case"]
    by_key: dict[str, list[StoredEvent]] = defaultdict(list)
    for e in case_events:
        key = e.state.get("command_key")
        if key:
            by_key[key].append(e)
    referred: dict[tuple[str, str], list[StoredEvent]] = defaultdict(list)
    for e in stores["referral"]:
        if e.topic == REFERRED_TOPIC:
            referred[(str(e.state.get("case_id")), str(e.state.get("receiving_organ")))].append(e)
    subscription_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in subscriptions:
        if row.get("idempotency_key"):
            subscription_rows[row["idempotency_key"]].append(row)

    def stored_for(cmd: Command) -> list[Any]:
        if cmd.kind == "subscribe":
            return subscription_rows.get(cmd.key, [])
        if cmd.kind == "refer":
            found = referred.get((cmd.case_id, RECEIVING_ORGAN), [])
            expected_id = str(referral_id_for(cmd.case_id, RECEIVING_ORGAN))
            if cmd.ok and str(cmd.answer.get("id")) != expected_id:
                report.fail(f"referral of {cmd.case_id} answered with id {cmd.answer.get('id')}, not {expected_id}")
            return found
        found = by_key.get(cmd.key, [])
        if cmd.kind == "file" and cmd.ok:
            expected_id = str(uuid.uuid5(CASE_ID_NAMESPACE, f"{AGENCY['code']}:{cmd.key}"))
            if cmd.case_id != expected_id or any(e.originator_id != expected_id for e in found):
                report.fail(f"filing {cmd.key} is not stored under its derived case id {expected_id}")
        if cmd.case_id and any(e.originator_id != cmd.case_id for e in found):
            report.fail(f"command {cmd.key} is stored on another case")
        return found

    lost, duplicated = [], []
    by_kind: Counter[str] = Counter()
    for cmd in commands:
        by_kind[cmd.kind] += 1
        found = stored_for(cmd)
        if cmd.ok:
            if not found:
                lost.append(cmd)
        elif cmd.status is None:
            c["unanswered"] = c.get("unanswered", 0) + 1
            c["unanswered_stored"] = c.get("unanswered_stored", 0) + (1 if found else 0)
        else:
            c["unexpected"] = c.get("unexpected", 0) + 1
            answer = json.dumps(cmd.answer, ensure_ascii=False)[:300]
            report.fail(f"{cmd.kind} {cmd.key} was answered {cmd.status}: {answer}")
        if len(found) > 1:
            duplicated.append(cmd)
    # Duplicates whoever asked: a key or a (case, organ) stored more than once.
    twice = [k for k, v in by_key.items() if len(v) > 1] + [k for k, v in referred.items() if len(v) > 1]
    asked = {cmd.key for cmd in commands}
    # A referral reported suspends its case: that case event's key is the referral event's id
    # (at most one per referral event, the duplicates check above counts keys).
    asked |= {e.event_id for found in referred.values() for e in found}
    # The decision-number register's events are taken by the decisions they number.
    strangers = [
        e for e in case_events if e.state.get("command_key") not in asked and "DecisionRegister." not in e.topic
    ]
    c.update(
        sent=len(commands),
        ok=sum(cmd.ok for cmd in commands),
        ok_first_attempt=sum(cmd.ok and cmd.attempts == 1 for cmd in commands),
        ok_after_retry=sum(cmd.ok and cmd.refused + cmd.no_answer + cmd.server_errors > 0 for cmd in commands),
        replayed=sum(cmd.replayed for cmd in commands),
        attempts_refused=sum(cmd.refused for cmd in commands),
        attempts_in_flight=sum(cmd.no_answer for cmd in commands),
        attempts_no_answer=sum(cmd.refused + cmd.no_answer for cmd in commands),
        attempts_5xx=sum(cmd.server_errors for cmd in commands),
        attempts_412=sum(cmd.stale for cmd in commands),
        attempts_unknown_case=sum(cmd.not_yet_known for cmd in commands),
        by_kind=dict(by_kind),
        lost=len(lost),
        duplicated=max(len(duplicated), len(twice)),
    )
    c.setdefault("unanswered", 0)
    c.setdefault("unanswered_stored", 0)
    c.setdefault("unexpected", 0)
    if lost:
        report.fail(f"{len(lost)} commands answered 2xx are not in their event store, e.g. {[x.key for x in lost[:5]]}")
    if duplicated or twice:
        report.fail(f"commands stored more than once: {[x.key for x in duplicated[:5]] or twice[:5]}")
    if strangers:
        report.fail(f"{len(strangers)} case events no client asked for, e.g. {strangers[0].originator_id}")
    if c["sent"] < report.options.commands:
        report.notes.append(
            f"{report.options.commands - c['sent']} planned commands were not sent "
            "(an earlier command of their case got no answer)"
        )


def check_broker(
    report: ChaosReport, stores: dict[str, list[StoredEvent]], records: dict[int, list[Any]]
) -> dict[str, ConsumedEvent]:
    """Every stored event on the topic, nothing else there, each aggregate in version order.
    Returns the first copy of each CloudEvent, by id."""
    c = report.counts
    stored = {e.event_id: e for events in stores.values() for e in events}
    first: dict[str, ConsumedEvent] = {}
    total = unreadable = changed = 0
    order: dict[str, list[int]] = defaultdict(list)
    for partition in sorted(records):
        for record in records[partition]:
            total += 1
            event = parse_record(record)
            if event is None:
                unreadable += 1
                continue
            if event.id in first:
                if (first[event.id].type, first[event.id].data) != (event.type, event.data):
                    changed += 1
                continue
            first[event.id] = event
            order[event.aggregate_id].append(event.sequence)
    out_of_order = sum(1 for seqs in order.values() if seqs != sorted(seqs))
    missing = set(stored) - set(first)
    unknown = set(first) - set(stored)
    c.update(
        events_stored=len(stored),
        events_by_store={s: len(v) for s, v in stores.items()},
        events_on_broker=len(first),
        broker_records=total,
        broker_duplicates=total - len(first) - unreadable,
        events_missing_on_broker=len(missing),
        events_unknown_on_broker=len(unknown),
        events_out_of_order=out_of_order,
    )
    if missing:
        report.fail(f"{len(missing)} stored events never reached the broker, e.g. {sorted(missing)[:3]}")
    if unknown:
        report.fail(f"{len(unknown)} events on the broker are in no event store, e.g. {sorted(unknown)[:3]}")
    if out_of_order:
        report.fail(f"{out_of_order} aggregates' events reached the broker out of version order")
    if unreadable:
        report.fail(f"{unreadable} unreadable records on the topic")
    if changed:
        report.fail(f"{changed} events re-published with different content under the same id")
    return first


def check_publications(
    report: ChaosReport, stores: dict[str, list[StoredEvent]], credit_china: list[dict[str, Any]], intake_requests: int
) -> None:
    """Each decision prepared and published exactly once, and Credit China holds it with the
    receipt recorded (the policy and the publisher are effects of consumed events too)."""
    c = report.counts
    decisions = [e for e in stores["case"] if e.topic == DECIDED_TOPIC]
    expected = {str(publication_id_for(e.originator_id, str(e.state.get("decision_number")))) for e in decisions}
    prepared = Counter(e.originator_id for e in stores["disclosure"] if e.topic == PREPARED_TOPIC)
    published = Counter(e.originator_id for e in stores["disclosure"] if e.topic == PUBLISHED_TOPIC)
    receipts = {e.originator_id: e.state.get("receipt_id") for e in stores["disclosure"] if e.topic == PUBLISHED_TOPIC}
    accepted = {str(r["publication_id"]): r for r in credit_china}
    mismatched = [p for p, receipt in receipts.items() if p in accepted and accepted[p]["receipt_id"] != receipt]
    c.update(
        decisions=len(decisions),
        prepared=sum(prepared.values()),
        published=sum(published.values()),
        credit_china_accepted=len(accepted),
        credit_china_requests=intake_requests,
        receipt_mismatches=len(mismatched),
    )
    if set(prepared) != expected or any(n != 1 for n in prepared.values()):
        report.fail(f"{sum(prepared.values())} publications prepared for {len(expected)} decisions, not one each")
    if set(published) != expected or any(n != 1 for n in published.values()):
        report.fail(f"{sum(published.values())} publications published for {len(expected)} decisions, not one each")
    if set(accepted) != expected:
        report.fail(f"Credit China holds {len(accepted)} publications, {len(expected)} expected")
    if mismatched:
        report.fail(f"{len(mismatched)} publications recorded with another receipt than Credit China's")


def check_webhooks(
    report: ChaosReport, first: dict[str, ConsumedEvent], receiver: Subscriber, secret: str, patterns: Sequence[str]
) -> None:
    """Every event the subscription matches arrived at least once, correctly signed, with
    the event's content, and never with two different bodies under one webhook id."""
    c = report.counts
    # Webhooks carry the events of cases (the decision-number register's are on the topic only).
    owed = {i: e for i, e in first.items() if matches(e.type, patterns) and e.type not in event_types.NOT_OF_A_CASE}
    bodies: dict[str, set[bytes]] = defaultdict(set)
    bad_signature = differ = 0
    signer = Webhook(secret)
    received = receiver.received
    for hook in received:
        headers, body = hook["headers"], hook["body"]
        webhook_id = headers.get("webhook-id", "")
        bodies[webhook_id].add(body)
        try:
            sent_at = datetime.fromtimestamp(int(headers.get("webhook-timestamp", "0")), UTC)
            expected = signer.sign(webhook_id, sent_at, body.decode())
        except Exception:
            expected = ""
        signatures = headers.get("webhook-signature", "").split()
        if expected not in signatures:
            bad_signature += 1
        try:
            payload = json.loads(body)
        except ValueError:
            differ += 1
            continue
        if payload.get("id") != webhook_id:
            differ += 1
        elif webhook_id in owed:
            want = cloud_event_envelope(owed[webhook_id])
            if {k: payload.get(k) for k in ("id", "type", "subject", "source", "data")} != {
                k: want.get(k) for k in ("id", "type", "subject", "source", "data")
            }:
                differ += 1
    changed = sum(1 for v in bodies.values() if len(v) > 1)
    missing = set(owed) - set(bodies)
    not_owed = set(bodies) - set(owed)
    c.update(
        webhooks_owed=len(owed),
        webhooks_delivered=len(set(owed) & set(bodies)),
        webhook_requests=len(received),
        webhooks_missing=len(missing),
        webhooks_changed=changed,
        webhooks_differ_from_topic=differ,
        webhooks_bad_signature=bad_signature,
        webhooks_not_owed=len(not_owed),
    )
    if missing:
        report.fail(f"{len(missing)} webhooks owed were never delivered, e.g. {sorted(missing)[:3]}")
    if changed:
        report.fail(f"{changed} webhook ids were delivered with different payloads")
    if differ:
        report.fail(f"{differ} webhooks differ from the event on the topic")
    if bad_signature:
        report.fail(f"{bad_signature} webhooks with a bad signature")
    if not_owed:
        report.fail(f"{len(not_owed)} webhooks delivered that were not owed")
