"""The audit of reads (查询日志): who read what of a case, for which agency, when, and the
X-Reason they gave. Each record is an event in its own event store (the ``reads`` log),
chained and covered by signed tree heads like the service's events, and never published
on the topic. Append-only: nothing here updates or deletes a record, so they are kept as
long as the store (at least the 180 days 等保2.0 level 3 asks for).

Which reads are recorded is the service's call (services/case/routes.py): a natural
person's personal data shown in full, a history, an export.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from services.infra.eventstore import ServiceApplication
from services.infra.identity import Principal
from services.infra.telemetry import current_trace_id


class ReadRecord(Aggregate):
    """One read, recorded once."""

    @event("Recorded")
    def __init__(
        self,
        what: str,
        case_id: str,
        case_agency: dict[str, str],
        subject: str | None,
        reader: dict[str, Any],
        reason: str | None,
        full_personal_data: bool,
        trace_id: str | None,
    ) -> None:
        self.what = what


class ReadAudit(ServiceApplication):
    name = "reads"
    source = "/caseledger/reads"

    def record(
        self,
        caller: Principal,
        what: str,
        case_id: uuid.UUID,
        case_agency: dict[str, str],
        *,
        subject: str | None,
        reason: str | None,
        full_personal_data: bool,
    ) -> None:
        reader = {
            "subject": caller.subject,
            "subject_type": caller.subject_type,
            "name": caller.name or None,
            "agency_code": caller.agency_code,
            "region_code": caller.region_code,
            "roles": sorted(caller.roles),
            "on_behalf_of": caller.on_behalf_of,
        }
        self.save(
            ReadRecord(
                what=what,
                case_id=str(case_id),
                case_agency={"code": case_agency["code"], "region_code": case_agency["region_code"]},
                subject=subject,
                reader=reader,
                reason=reason,
                full_personal_data=full_personal_data,
                trace_id=current_trace_id() or None,
            )
        )

    def query(
        self,
        visible: Any,
        *,
        case_id: uuid.UUID | None = None,
        subjects: set[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        after: int = 0,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Records oldest first from after the notification ``after``, filtered; ``visible``
        says whether a record's case agency is in the caller's jurisdiction. Returns the
        page and the position to continue from (None at the end)."""
        found: list[dict[str, Any]] = []
        position = after
        while len(found) < limit:
            notifications = self.recorder.select_notifications(position + 1, 500)
            if not notifications:
                return found, None
            for notification in notifications:
                position = notification.id
                recorded = self.mapper.to_domain_event(notification)
                view = _view(notification.id, recorded)
                if _matches(view, visible, case_id, subjects, since, until):
                    found.append(view)
                    if len(found) == limit:
                        return found, position
        return found, position


def _view(position: int, recorded: Any) -> dict[str, Any]:
    return {
        "position": position,
        "recorded_at": recorded.timestamp.isoformat(),
        "what": recorded.what,
        "case_id": recorded.case_id,
        "case_agency": recorded.case_agency,
        "subject": recorded.subject,
        "reader": recorded.reader,
        "reason": recorded.reason,
        "full_personal_data": recorded.full_personal_data,
        "trace_id": recorded.trace_id,
    }


def _matches(
    view: dict[str, Any],
    visible: Any,
    case_id: uuid.UUID | None,
    subjects: set[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> bool:
    at = datetime.fromisoformat(view["recorded_at"])
    return (
        visible(view["case_agency"])
        and (case_id is None or view["case_id"] == str(case_id))
        and (subjects is None or view["subject"] in subjects)
        and (since is None or at >= since)
        and (until is None or at < until)
    )
