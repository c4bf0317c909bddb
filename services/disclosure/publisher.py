"""Publisher: pushes publications and their ends to Credit China (信用中国), in order.

It reads the disclosure application's own notification log (the Prepared, Withdrawn, Ended
and RepairGranted events) from its tracking position. For a publication still pending it
POSTs the masked item with the publication id as Idempotency-Key, and on acceptance appends
``Publication.Published``; for a withdrawal (of one that had gone out), an end or a repair
it POSTs the notice (contracts/credit_china/notice.schema.json) and on acceptance appends
``Publication.CreditChinaNotified``; each together with its new position in one
event-store transaction. Nothing is skipped: the worker retries the same message (capped
exponential backoff while Credit China is unreachable or failing, slowly and loudly when
it rejects the payload) until it goes through. After a restart it resumes at its position;
a message already accepted (seen on the aggregate) is not sent again, and Credit China
drops repeats by Idempotency-Key.

An other enforcement decision (其他行政执法决定) is not pushed (双公示 covers penalty
decisions): the publisher records it published on the agency's site when its turn in the
log comes, with no outside call, so it is late only when the publisher is held (stopped,
or waiting on Credit China for an earlier message); the scheduler's publication deadline
(20 working days) shows that.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

import httpx
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.utils import get_topic
from tenacity import RetryCallState

from services.disclosure.application import (
    DisclosureApplication,
    DisclosureSettings,
    publication_actor,
)
from services.disclosure.domain import AGENCY_SITE_RECEIPT, Notice, Publication
from services.infra.clock import today_in_china
from services.infra.egress import EgressPolicy, EgressRefused, pinned_client
from services.infra.metrics import Reading
from services.infra.retry import settings_backoff, until_stopped
from services.infra.telemetry import client_span, current_traceparent, span_from

log = logging.getLogger(__name__)
INTAKE_PATH = "/api/v1/penalties"
PREPARED_TOPIC = get_topic(Publication.Prepared)
# The events after which Credit China is told something, in the log's order.
PUSHED_TOPICS = [
    PREPARED_TOPIC,
    get_topic(Publication.Withdrawn),
    get_topic(Publication.Ended),
    get_topic(Publication.RepairGranted),
]


def notice_path(publication_id: str, notice: Notice) -> str:
    return f"{INTAKE_PATH}/{publication_id}/{notice}"


class CreditChinaUnavailable(Exception):
    """Connection refused, timeout, 5xx, 408 or 429: try again soon."""


class PayloadRejected(Exception):
    """Credit China refused the item (4xx): a bug in our masking or mapping."""


class CreditChinaPublisher(threading.Thread):
    position_name = "publisher"

    def __init__(
        self, app: DisclosureApplication, settings: DisclosureSettings, egress: EgressPolicy | None = None
    ) -> None:
        super().__init__(name=f"publisher-{settings.service_name}", daemon=True)
        self.app = app
        self.settings = settings
        self.egress = egress or EgressPolicy.from_settings(settings)
        check_endpoint(self.egress, settings.credit_china_url)
        self.stopping = threading.Event()
        self.published = 0
        self.last_error: str | None = None
        self._backoff = settings_backoff(settings)

    @property
    def position(self) -> int:
        return self.app.process_recorder.max_tracking_id(self.position_name) or 0

    def stop(self) -> None:
        self.stopping.set()

    def pending(self) -> tuple[int, int]:
        """Publications prepared and not yet accepted by Credit China, and how many of them
        are past their publish-by day (China time)."""
        waiting = self.app.recorder.select_notifications(self.position + 1, 10_000, topics=[PREPARED_TOPIC])
        today = today_in_china().isoformat()
        overdue = 0
        for notification in waiting:
            prepared = cast(Publication.Prepared, self.app.mapper.to_domain_event(notification))
            overdue += prepared.publish_by < today
        return len(waiting), overdue

    def readings(self) -> list[Reading]:
        pending, overdue = self.pending()
        return [
            Reading("caseledger_publications_pending", "Publications not yet accepted by Credit China", pending),
            Reading("caseledger_publications_overdue", "Pending publications past their publish-by day", overdue),
        ]

    def run(self) -> None:
        # Event store hiccups: the batch is tried again after a backoff (delivery failures
        # are retried inside, publication by publication).
        retrying = until_stopped(self.stopping, self._retrying, self._backoff)
        # Every request connects to the resolved, checked address and follows no redirect.
        client = pinned_client(
            self.egress, base_url=self.settings.credit_china_url, timeout=self.settings.publisher_timeout_s
        )
        with client:
            while not self.stopping.is_set():
                retrying(self._step, client)

    def _step(self, client: httpx.Client) -> None:
        if not self._publish_batch(client):
            self.stopping.wait(self.settings.relay_idle_sleep_s)

    def _retrying(self, exc: BaseException, delay: float, _attempt: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("publisher retrying in %.1fs: %s", delay, self.last_error)

    def _publish_batch(self, client: httpx.Client) -> int:
        notifications = self.app.recorder.select_notifications(
            self.position + 1, self.settings.relay_batch_size, topics=PUSHED_TOPICS
        )
        for notification in notifications:
            if self.stopping.is_set():
                break
            event = cast(Publication.Event, self.app.mapper.to_domain_event(notification))
            tracking = Tracking(self.position_name, notification.id)
            publication = self.app.get_publication(event.originator_id)
            today = today_in_china()
            if isinstance(event, Publication.Prepared):
                notice: Notice | None = None
                # Not published before a crash, nor withdrawn; nor past its period (the
                # scheduler records its end, with nothing pushed).
                due = publication.state == "pending" and not publication.period_over(today)
            else:
                notice = publication.pending_notice()
                due = notice is not None
            if not due:  # done before a crash, by another replica, or nothing to tell
                self.app.process_recorder.insert_tracking(tracking)
                continue
            on_site_only = not publication.pushed_to_credit_china
            actor = publication_actor(
                {"code": publication.agency_code, "region_code": publication.region_code},
                "published on the agency's site (本机关网站)"
                if on_site_only
                else "accepted by Credit China (信用中国)",
            )
            with span_from(event.traceparent, "credit-china push", **{"publication.id": str(publication.id)}):
                # An other decision goes to the agency's own site (the public feed) only.
                receipt_id = AGENCY_SITE_RECEIPT if on_site_only else self._deliver(client, publication, notice)
                if notice is None:
                    if not self._record_acceptance(tracking, publication, receipt_id, actor):
                        return 0
                else:
                    publication.notify(notice=notice, receipt_id=receipt_id, notified_on=today_in_china(), actor=actor)
                    try:
                        self.app.save_tracked(tracking, publication)
                    except IntegrityError:
                        # Another publisher recorded it first (the next round sees it done),
                        # or the scheduler appended an event meanwhile: the next round loads it
                        # again and Credit China answers the same Idempotency-Key with the
                        # same receipt.
                        log.info("publication %s was recorded by another publisher", publication.id)
                        return 0
            self.published += 1
            self.last_error = None
            log.info(
                "publication %s: %s accepted by Credit China, receipt %s",
                publication.id,
                notice or "publication",
                receipt_id,
            )
        return len(notifications)

    def _record_acceptance(
        self, tracking: Tracking, publication: Publication, receipt_id: str, actor: dict[str, Any]
    ) -> bool:
        """Record that Credit China accepted the record, on the publication as it is now:
        while the push was retried it may have been withdrawn (or ended), and the
        acceptance must still be recorded, or the withdrawal would never be pushed and
        Credit China would show a revoked penalty for good. False when another publisher
        recorded it first (the next round sees it done)."""
        for _attempt in range(3):
            if publication.published:
                log.info("publication %s was recorded by another publisher", publication.id)
                return False
            publication.record_acceptance(
                accepted_on=today_in_china(), receipt_id=receipt_id, catalogue=self.app.catalogue, actor=actor
            )
            try:
                self.app.save_tracked(tracking, publication)
                return True
            except IntegrityError:
                # An event was appended meanwhile (a withdrawal, the scheduler, another
                # publisher): record the acceptance on what is now there.
                publication = self.app.get_publication(publication.id)
        return False

    # -- delivery ------------------------------------------------------------------------
    def _deliver(self, client: httpx.Client, publication: Publication, notice: Notice | None) -> str:
        """POST until Credit China accepts; only stopping the worker ends the retries."""
        retrying = until_stopped(
            self.stopping,
            self._log_failure,
            self._wait,
            retry_on=(httpx.TransportError, EgressRefused, CreditChinaUnavailable, PayloadRejected),
            reraise=True,
        )
        receipt = retrying(self._post, client, publication, notice)
        assert receipt is not None  # with reraise, a stopped worker raises instead
        return receipt

    def _post(self, client: httpx.Client, publication: Publication, notice: Notice | None) -> str:
        if notice is None:
            path, key = INTAKE_PATH, publication.publication_id
            body: dict[str, Any] = {"publication_id": publication.publication_id, "item": publication.item}
        else:
            path, key = notice_path(publication.publication_id, notice), f"{publication.publication_id}:{notice}"
            body = publication.notice_body(notice)
        with client_span("POST", f"{self.settings.credit_china_url.rstrip('/')}{path}") as span:
            response = client.post(
                path, json=body, headers={"Idempotency-Key": key, "traceparent": current_traceparent()}
            )
            span.set_attribute("http.response.status_code", response.status_code)
        if response.is_success:
            receipt_id = _receipt_id(response)
            if receipt_id:
                return receipt_id
            raise CreditChinaUnavailable(f"{response.status_code} without a receipt_id: {response.text[:500]}")
        if response.is_client_error and response.status_code not in (408, 429):
            raise PayloadRejected(f"{response.status_code}: {response.text[:2000]}")
        raise CreditChinaUnavailable(f"{response.status_code}: {response.text[:500]}")

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, PayloadRejected):
            return self.settings.publisher_rejected_retry_s
        return float(self._backoff(state))

    def _log_failure(self, failure: BaseException, delay: float, attempt: int) -> None:
        self.last_error = f"{type(failure).__name__}: {failure}"
        if isinstance(failure, PayloadRejected):
            log.error(
                "Credit China REJECTED a publication (a bug in the disclosure mapping); retrying in %.0fs: %s",
                delay,
                self.last_error,
            )
        else:
            log.warning(
                "Credit China unavailable (attempt %d), retrying in %.1fs: %s",
                attempt,
                delay,
                self.last_error,
            )


def check_endpoint(egress: EgressPolicy, url: str) -> None:
    """Start-up refuses a CREDIT_CHINA_URL outgoing requests may not reach (http outside
    development, credentials, a non-public address not allowlisted). A name that does not
    resolve yet is let through: each request resolves and checks it again."""
    try:
        egress.resolve_sync(url)
    except EgressRefused as refused:
        if refused.rule != "host-unresolvable":
            raise ValueError(f"CREDIT_CHINA_URL {url!r} refused ({refused.rule}): {refused.detail}") from None
        log.warning("CREDIT_CHINA_URL %r does not resolve now; each request will check it", url)


def _receipt_id(response: httpx.Response) -> str | None:
    try:
        body: Any = response.json()
    except ValueError:
        return None
    receipt = body.get("receipt_id") if isinstance(body, dict) else None
    return str(receipt) if receipt else None
