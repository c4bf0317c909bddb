"""After the decision (shared/DOMAIN.md §4): service (送达), payment (缴纳) with its surcharge
(加处罚款), deferral and instalments, remedies (行政复议、行政诉讼), reminder (催告) and the
court's enforcement (申请人民法院强制执行)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from services.case.domain.checks import (
    check_business_date,
    court_deadline,
    fine_total,
    heavier_than,
    payment_deadline,
    refuse_personal_data_in_text,
    surcharge_terms,
    validate_penalties,
)
from services.case.domain.state import CaseState
from services.case.domain.tracks import IllegalTransition
from services.case.domain.vocabulary import (
    ABSENT_SERVICE_RULE,
    COURT_APPLICATION_RULE,
    PAYMENT_RULE,
    PUBLIC_NOTICE_RULE,
    RECONSIDERATION_RULE,
    REMINDER_WAIT_RULE,
    SUIT_AFTER_RECONSIDERATION_RULE,
    SUIT_RULE,
    Agency,
    Approver,
    ArrangementKind,
    CourtRuling,
    DocumentRef,
    Instalment,
    Penalty,
    RecordedParty,
    RemedyKind,
    RemedyOutcome,
    ServiceMethod,
    SurchargeTerms,
)
from services.common import event_types
from services.common.deadlines import (
    RecordedDeadline,
    recorded_deadline,
)
from services.common.rules import Catalogue
from services.infra.errors import RuleViolation
from services.infra.eventstore import TracedAggregate


class AfterDecision(CaseState):
    """送达 → 缴纳 / 暂缓分期 → 复议诉讼 → 催告 → 申请强制执行, for each respondent on its own."""

    class ServiceConsentRecorded(TracedAggregate.Event):
        """The party's consent to electronic service (同意电子送达), with the address it gave
        and the document it signed (送达地址确认书)."""

        cloud_type = event_types.CASE_SERVICE_CONSENT_RECORDED
        respondent: int
        consented_on: str
        address: str
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            case.tracks[self.respondent - 1].electronic_consent = self.address
            case.remember(self.command_key, self.command_fingerprint)

    class DecisionServed(TracedAggregate.Event):
        """行政处罚决定书送达: the day it was served (for a public notice, the day it counts
        as served) starts the payment period (a deadline of the case) and the party's
        remedy periods; the surcharge rule is the one in force on the first day late."""

        cloud_type = event_types.CASE_DECISION_SERVED
        respondent: int
        decision_number: str
        method: ServiceMethod
        served_on: str
        published_on: str | None
        address: str | None
        document: DocumentRef
        payment_deadline: RecordedDeadline | None
        surcharge: SurchargeTerms | None
        reconsideration_until: str
        suit_until: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.service_method = self.method
            track.served_on = self.served_on
            track.reconsideration_until = self.reconsideration_until
            track.suit_until = self.suit_until
            track.surcharge = self.surcharge
            if self.payment_deadline is None:
                track.state = "performed"  # no fine: performed by its service
            else:
                track.state = "served"
                track.payment_due = self.payment_deadline["due_on"]
                case.add_deadline(self.payment_deadline)
            case.remember(self.command_key, self.command_fingerprint)

    class PaymentArranged(TracedAggregate.Event):
        """暂缓或者分期缴纳 approved on the party's application (行政处罚法 Art. 66): the
        payment deadline moves (for instalments to the last one's day)."""

        cloud_type = event_types.CASE_PAYMENT_ARRANGED
        respondent: int
        kind: ArrangementKind
        applied_on: str
        approved_on: str
        approver: Approver
        reason: str
        instalments: list[Instalment]
        payment_deadline: RecordedDeadline
        previous_due_on: str
        surcharge: SurchargeTerms
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.arrangement = self.kind
            track.payment_due = self.payment_deadline["due_on"]
            track.surcharge = self.surcharge
            case.deadlines[self.payment_deadline["name"]]["deadline"] = self.payment_deadline
            case.remember(self.command_key, self.command_fingerprint)

    class PaymentRecorded(TracedAggregate.Event):
        """罚款缴纳 at the bank (never to the agency), by the bank's receipt reference; a
        part of what is due, or all of it (the fine, then the surcharge accrued)."""

        cloud_type = event_types.CASE_PAYMENT_RECORDED
        respondent: int
        paid_on: str
        amount_fen: int
        bank: str
        receipt_reference: str
        surcharge_accrued_fen: int
        outstanding_fen: int
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.payments = [
                *track.payments,
                {"paid_on": self.paid_on, "amount_fen": self.amount_fen, "receipt": self.receipt_reference},
            ]
            if self.outstanding_fen == 0:
                track.state = "paid"
                case.close_deadline(payment_deadline(self.respondent))
                case.close_deadline(court_deadline(self.respondent))
            case.remember(self.command_key, self.command_fingerprint)

    class RemedyFiled(TracedAggregate.Event):
        """行政复议 applied for or 行政诉讼 filed, within its period (neither suspends the penalty)."""

        cloud_type = event_types.CASE_REMEDY_FILED
        respondent: int
        kind: RemedyKind
        filed_on: str
        organ: str
        within: str
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.remedies = [*track.remedies, {"kind": self.kind, "filed_on": self.filed_on, "organ": self.organ}]
            case.remember(self.command_key, self.command_fingerprint)

    class RemedyDecided(TracedAggregate.Event):
        """复议决定 or 判决: upheld, or the decision revoked, changed, declared void or
        illegal (the correction follows as its own event)."""

        cloud_type = event_types.CASE_REMEDY_DECIDED
        respondent: int
        kind: RemedyKind
        decided_on: str
        outcome: RemedyOutcome
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            pending = track.remedy_pending
            assert pending is not None
            track.remedies = [
                {**r, "decided_on": self.decided_on, "outcome": self.outcome} if r is pending else r
                for r in track.remedies
            ]
            case.remember(self.command_key, self.command_fingerprint)

    class DecisionCorrected(TracedAggregate.Event):
        """The correction a remedy's outcome makes to a decision (纠错): revoked, changed
        (its new penalties), void or confirmed illegal. Self-contained like the decision,
        so the disclosure service and Credit China can follow it without reading the case;
        the decision's own event stays as it was."""

        cloud_type = event_types.CASE_DECISION_CORRECTED
        respondent: int
        decision_number: str
        correction: Literal["revoked", "changed", "void", "confirmed_illegal"]
        by: RemedyKind
        corrected_on: str
        agency: Agency
        party: RecordedParty
        previous_penalties: list[Penalty]
        penalties: list[Penalty]
        fine_total_yuan: int
        # Whether the publication of the decision must be withdrawn: on every correction
        # (行政处罚法 Art. 48; events before issue 14 said so only for revoked or void).
        withdraw_publication: bool
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.corrections += 1
            track.penalties = self.penalties
            track.fine_total_yuan = self.fine_total_yuan
            if self.correction in ("revoked", "void"):
                track.state = "revoked"
                case.close_deadline(payment_deadline(self.respondent))
                case.close_deadline(court_deadline(self.respondent))
            elif (
                track.state in ("served", "reminded", "enforcement_applied")
                and track.outstanding_fen(date.fromisoformat(self.corrected_on)) == 0
            ):
                track.state = "paid"  # changed to what was paid already
                case.close_deadline(payment_deadline(self.respondent))
                case.close_deadline(court_deadline(self.respondent))
            case.remember(self.command_key, self.command_fingerprint)

    class ReminderServed(TracedAggregate.Event):
        """催告书 served (行政强制法 Art. 54): the party neither paid nor sought remedies;
        the court application may follow after the reminder's period, within the window
        from the end of the remedy periods (a deadline of the case)."""

        cloud_type = event_types.CASE_REMINDER_SERVED
        respondent: int
        served_on: str
        document: DocumentRef
        outstanding_fen: int
        wait_deadline: RecordedDeadline
        court_application_deadline: RecordedDeadline
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "reminded"
            track.reminder_served_on = self.served_on
            track.reminder_wait_until = self.wait_deadline["due_on"]
            track.court_application_until = self.court_application_deadline["due_on"]
            case.close_deadline(payment_deadline(self.respondent))  # its step is now the court's
            case.add_deadline(self.court_application_deadline)
            case.remember(self.command_key, self.command_fingerprint)

    class CourtApplied(TracedAggregate.Event):
        """申请人民法院强制执行 (行政强制法 Art. 53, 54), with what was outstanding."""

        cloud_type = event_types.CASE_COURT_APPLIED
        respondent: int
        applied_on: str
        court: str
        outstanding_fen: int
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.state = "enforcement_applied"
            track.court_applied_on = self.applied_on
            case.close_deadline(court_deadline(self.respondent))
            case.remember(self.command_key, self.command_fingerprint)

    class CourtRuled(TracedAggregate.Event):
        """The court's ruling (准予执行 / 不予执行裁定) and what its enforcement recovered."""

        cloud_type = event_types.CASE_COURT_RULED
        respondent: int
        ruled_on: str
        ruling: CourtRuling
        recovered_fen: int
        document: DocumentRef
        command_key: str
        command_fingerprint: str

        def apply(self, case: CaseState) -> None:
            track = case.tracks[self.respondent - 1]
            track.court_ruling = self.ruling
            track.recovered_fen = self.recovered_fen
            track.state = "enforced" if self.ruling == "granted" else "enforcement_refused"
            case.remember(self.command_key, self.command_fingerprint)

    # -- commands ----------------------------------------------------------------------
    def record_service_consent(
        self,
        *,
        respondent: int,
        consented_on: date,
        address: str,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """同意电子送达: the party's consent, with the address it gave, before the decision is served."""
        track = self._track(respondent, "record_service_consent")
        check_business_date("/consented_on", consented_on, latest, not_before=("filed_on", self.filed_on))
        if not address.strip():
            raise RuleViolation("/address", "address-required", "electronic service needs the address consented to")
        self.trigger_event(
            self.ServiceConsentRecorded,
            respondent=track.number,
            consented_on=consented_on.isoformat(),
            address=address.strip(),
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def serve_decision(
        self,
        *,
        respondent: int,
        method: ServiceMethod,
        served_on: date | None,
        published_on: date | None,
        document: DocumentRef,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """送达 (行政处罚法 Art. 61): on the spot the day it was decided; to an absent party
        within the catalogue's period from the decision; electronically only to the address
        the party consented to; by public notice counted as served when the catalogue's
        period from its publication has passed (recorded then, the day it counts as served).
        Service opens the payment deadline (when there is a fine) and the remedy periods."""
        track = self._track(respondent, "serve_decision")
        assert track.decided_on is not None and track.decision_number is not None
        region = self.agency["region_code"]
        decided = date.fromisoformat(track.decided_on)
        address = None
        if method == "public_notice":
            if published_on is None:
                raise RuleViolation("/published_on", "published-on-required", "a public notice needs its date")
            check_business_date("/published_on", published_on, latest, not_before=("decided_on", decided))
            deemed = catalogue.procedural_deadline(PUBLIC_NOTICE_RULE, published_on, region=region).due_on
            if served_on is not None and served_on != deemed:
                raise RuleViolation(
                    "/served_on", "public-notice-served-on", f"a notice of {published_on} counts as served on {deemed}"
                )
            if deemed > latest:
                raise RuleViolation(
                    "/published_on",
                    "public-notice-period-running",
                    f"the notice counts as served on {deemed} ({PUBLIC_NOTICE_RULE}): record the service then",
                )
            served = deemed
        else:
            if served_on is None:
                raise RuleViolation("/served_on", "served-on-required", "the day of service is required")
            if published_on is not None:
                raise RuleViolation(
                    "/published_on", "only-public-notice", "only a public notice has a publication date"
                )
            check_business_date("/served_on", served_on, latest, not_before=("decided_on", decided))
            served = served_on
        if method == "on_the_spot" and served != decided:
            raise RuleViolation(
                "/served_on", "on-the-spot-same-day", f"served on the spot means on the decision's day ({decided})"
            )
        if method == "absent_party":
            within = catalogue.procedural_deadline(ABSENT_SERVICE_RULE, decided, region=region)
            if served > within.due_on:
                raise RuleViolation(
                    "/served_on",
                    "absent-party-service-period",
                    f"a decision of {decided} is served on an absent party by {within.due_on} ({ABSENT_SERVICE_RULE})",
                )
        if method == "electronic":
            if track.electronic_consent is None:
                raise RuleViolation(
                    "/method",
                    "electronic-service-consent",
                    f"respondent {respondent} has not consented to electronic service (行政处罚法 Art. 61)",
                )
            address = track.electronic_consent
        payment = None
        surcharge = None
        if track.fine_fen:
            due = catalogue.procedural_deadline(PAYMENT_RULE, served, region=region)
            payment = recorded_deadline(payment_deadline(respondent), due)
            surcharge = surcharge_terms(catalogue, due.due_on, region)
        self.trigger_event(
            self.DecisionServed,
            respondent=respondent,
            decision_number=track.decision_number,
            method=method,
            served_on=served.isoformat(),
            published_on=published_on.isoformat() if published_on else None,
            address=address,
            document=document,
            payment_deadline=payment,
            surcharge=surcharge,
            reconsideration_until=catalogue.procedural_deadline(
                RECONSIDERATION_RULE, served, region=region
            ).due_on.isoformat(),
            suit_until=catalogue.procedural_deadline(SUIT_RULE, served, region=region).due_on.isoformat(),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def arrange_payment(
        self,
        *,
        respondent: int,
        kind: ArrangementKind,
        applied_on: date,
        approved_on: date,
        approver: Approver,
        reason: str,
        due_on: date | None,
        instalments: list[Instalment],
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """暂缓或者分期缴纳 (行政处罚法 Art. 66), applied for within the payment period and
        approved: a deferral to a later day, or instalments covering the unpaid fine; the
        payment deadline (and the first day of surcharge) moves to the new (last) day."""
        track = self._track(respondent, "arrange_payment")
        assert track.payment_due is not None
        check_business_date("/applied_on", applied_on, latest, not_before=("served_on", track.served_on))
        check_business_date("/approved_on", approved_on, latest, not_before=("applied_on", applied_on))
        if applied_on > date.fromisoformat(track.payment_due):
            raise RuleViolation(
                "/applied_on",
                "apply-within-payment-period",
                f"a deferral or instalments must be applied for by {track.payment_due} ({PAYMENT_RULE})",
            )
        if not reason.strip():
            raise RuleViolation("/reason", "reason-required", "a deferral or instalments must give its reason")
        refuse_personal_data_in_text("/reason", reason)
        if kind == "deferral":
            if due_on is None or instalments:
                raise RuleViolation("/due_on", "deferral-due-on", "a deferral gives its new day and no instalments")
            new_due = due_on
        else:
            if due_on is not None or len(instalments) < 2:
                raise RuleViolation("/instalments", "instalments", "instalments are two or more, each with its day")
            days = [i["due_on"] for i in instalments]
            if days != sorted(set(days)) or any(i["amount_fen"] <= 0 for i in instalments):
                raise RuleViolation(
                    "/instalments", "instalments", "instalments on distinct days in order, each positive"
                )
            unpaid = track.fine_fen - track.paid_fen
            if sum(i["amount_fen"] for i in instalments) != unpaid:
                raise RuleViolation("/instalments", "instalments-sum", f"the instalments must add up to {unpaid} fen")
            new_due = date.fromisoformat(days[-1])
        if new_due <= date.fromisoformat(track.payment_due):
            raise RuleViolation("/due_on", "later-due-date", f"the new day must be after {track.payment_due}")
        current = self.deadlines[payment_deadline(respondent)]["deadline"]
        self.trigger_event(
            self.PaymentArranged,
            respondent=respondent,
            kind=kind,
            applied_on=applied_on.isoformat(),
            approved_on=approved_on.isoformat(),
            approver=approver,
            reason=reason,
            instalments=instalments,
            payment_deadline=RecordedDeadline(**{**current, "due_on": new_due.isoformat()}),
            previous_due_on=current["due_on"],
            surcharge=surcharge_terms(catalogue, new_due, self.agency["region_code"]),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_payment(
        self,
        *,
        respondent: int,
        paid_on: date,
        amount_fen: int,
        bank: str,
        receipt_reference: str,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """罚款缴纳 at the bank (行政处罚法 Art. 67: never to the agency), by its receipt
        reference; applied to the fine first, then to the surcharge accrued on that day;
        no more than is outstanding. The track ends (paid) when nothing is."""
        track = self._track(respondent, "record_payment")
        last = max((p["paid_on"] for p in track.payments), default=None)
        check_business_date(
            "/paid_on", paid_on, latest, not_before=("paid_on", last) if last else ("served_on", track.served_on)
        )
        if amount_fen <= 0:
            raise RuleViolation("/amount_fen", "positive-amount", "a payment is a positive amount")
        if not receipt_reference.strip() or not bank.strip():
            raise RuleViolation(
                "/receipt_reference",
                "bank-receipt",
                "a fine is paid to a bank: give the bank and its receipt reference",
            )
        if any(p["receipt"] == receipt_reference.strip() for p in track.payments):
            raise RuleViolation("/receipt_reference", "receipt-once", "this receipt was recorded already")
        outstanding = track.outstanding_fen(paid_on)
        if amount_fen > outstanding:
            raise RuleViolation(
                "/amount_fen", "overpayment", f"{amount_fen} fen is more than the {outstanding} fen outstanding"
            )
        self.trigger_event(
            self.PaymentRecorded,
            respondent=respondent,
            paid_on=paid_on.isoformat(),
            amount_fen=amount_fen,
            bank=bank.strip(),
            receipt_reference=receipt_reference.strip(),
            surcharge_accrued_fen=track.surcharge_fen(paid_on),
            outstanding_fen=outstanding - amount_fen,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def file_remedy(
        self,
        *,
        respondent: int,
        kind: RemedyKind,
        filed_on: date,
        organ: str,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """行政复议 within its period of service; 行政诉讼 within its period of service, or
        of the reconsideration decision if there was one; one at a time, no
        reconsideration after a suit. Neither suspends the penalty (the track runs on)."""
        track = self._track(respondent, "file_remedy")
        check_business_date("/filed_on", filed_on, latest, not_before=("served_on", track.served_on))
        if track.remedy_pending is not None:
            raise RuleViolation("/kind", "remedy-pending", f"a {track.remedy_pending['kind']} is pending")
        kinds = [r["kind"] for r in track.remedies]
        if "suit" in kinds or (kind == "reconsideration" and kinds):
            raise RuleViolation("/kind", "remedy-used", f"respondent {respondent} already sought {', '.join(kinds)}")
        refuse_personal_data_in_text("/organ", organ)
        if kind == "reconsideration":
            until, rule = track.reconsideration_until, RECONSIDERATION_RULE
        elif kinds:  # a suit after the reconsideration decision
            decided = date.fromisoformat(track.remedies[-1]["decided_on"])
            region = self.agency["region_code"]
            until = catalogue.procedural_deadline(
                SUIT_AFTER_RECONSIDERATION_RULE, decided, region=region
            ).due_on.isoformat()
            rule = SUIT_AFTER_RECONSIDERATION_RULE
        else:
            until, rule = track.suit_until, SUIT_RULE
        assert until is not None
        if filed_on > date.fromisoformat(until):
            raise RuleViolation("/filed_on", "remedy-period", f"a {kind} had to be filed by {until} ({rule})")
        self.trigger_event(
            self.RemedyFiled,
            respondent=respondent,
            kind=kind,
            filed_on=filed_on.isoformat(),
            organ=organ,
            within=f"by {until} ({rule})",
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def decide_remedy(
        self,
        *,
        respondent: int,
        decided_on: date,
        outcome: RemedyOutcome,
        penalties: list[Penalty] | None,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """The pending remedy decided. A decision revoked, changed, declared void or
        illegal is corrected by a DecisionCorrected event (its own history stays); a change
        gives the new penalties, never heavier (复议、诉讼不得加重: 行政复议法 Art. 63)."""
        track = self._track(respondent, "decide_remedy")
        pending = track.remedy_pending
        if pending is None:
            raise IllegalTransition(
                "decide_remedy",
                track.state,
                self.respondent_actions(track),
                why=f"respondent {respondent} has no remedy pending",
            )
        check_business_date("/decided_on", decided_on, latest, not_before=("filed_on", pending["filed_on"]))
        assert track.penalties is not None and track.decision_number is not None
        if outcome == "changed":
            if not penalties:
                raise RuleViolation("/penalties", "changed-penalties", "a changed decision gives its new penalties")
            validate_penalties(penalties)
            heavier = heavier_than(penalties, track.penalties)
            if heavier:
                raise RuleViolation(
                    "/penalties", "no-heavier-on-remedy", f"a remedy may not make it heavier ({heavier})"
                )
        elif penalties:
            raise RuleViolation("/penalties", "penalties-only-when-changed", "only a changed decision gives penalties")
        self.trigger_event(
            self.RemedyDecided,
            respondent=respondent,
            kind=pending["kind"],
            decided_on=decided_on.isoformat(),
            outcome=outcome,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
        if outcome == "upheld":
            return
        after = penalties if outcome == "changed" else track.penalties
        if outcome in ("revoked", "void"):
            after = []
        assert after is not None
        self.trigger_event(
            self.DecisionCorrected,
            respondent=respondent,
            decision_number=track.decision_number,
            correction=outcome,
            by=pending["kind"],
            corrected_on=decided_on.isoformat(),
            agency=self.agency,
            party=track.party,
            previous_penalties=track.penalties,
            penalties=after,
            fine_total_yuan=fine_total(after),
            withdraw_publication=True,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def serve_reminder(
        self,
        *,
        respondent: int,
        served_on: date,
        document: DocumentRef,
        catalogue: Catalogue,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """催告 (行政强制法 Art. 54) after the payment period, to a party who neither paid
        nor sought a remedy. Opens the court application's window: within the catalogue's
        period from the end of the remedy periods."""
        track = self._track(respondent, "serve_reminder")
        assert track.payment_due is not None and track.suit_until is not None
        check_business_date("/served_on", served_on, latest, not_before=("served_on", track.served_on))
        if served_on <= date.fromisoformat(track.payment_due):
            raise RuleViolation(
                "/served_on", "payment-period-running", f"respondent {respondent} may pay until {track.payment_due}"
            )
        if track.remedies:
            raise RuleViolation("/respondent", "remedy-sought", f"respondent {respondent} sought a remedy: no reminder")
        region = self.agency["region_code"]
        wait = catalogue.procedural_deadline(REMINDER_WAIT_RULE, served_on, region=region)
        remedy_end = max(
            date.fromisoformat(track.suit_until), date.fromisoformat(track.reconsideration_until or track.suit_until)
        )
        window = catalogue.procedural_deadline(COURT_APPLICATION_RULE, remedy_end, region=region, step_date=served_on)
        self.trigger_event(
            self.ReminderServed,
            respondent=respondent,
            served_on=served_on.isoformat(),
            document=document,
            outstanding_fen=track.outstanding_fen(served_on),
            wait_deadline=recorded_deadline(f"reminder_wait_{respondent}", wait),
            court_application_deadline=recorded_deadline(court_deadline(respondent), window),
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def apply_to_court(
        self,
        *,
        respondent: int,
        applied_on: date,
        court: str,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """申请人民法院强制执行 (行政强制法 Art. 53, 54): only after the reminder's period
        has passed and the remedy periods ended unused, within the window after them."""
        track = self._track(respondent, "apply_to_court")
        assert track.reminder_wait_until and track.court_application_until and track.suit_until
        check_business_date("/applied_on", applied_on, latest, not_before=("reminder", track.reminder_served_on))
        if track.remedies:
            raise RuleViolation("/respondent", "remedy-sought", f"respondent {respondent} sought a remedy")
        if applied_on <= date.fromisoformat(track.reminder_wait_until):
            raise RuleViolation(
                "/applied_on",
                "reminder-period-running",
                f"the reminder served on {track.reminder_served_on} runs until {track.reminder_wait_until}"
                f" ({REMINDER_WAIT_RULE}): apply after it",
            )
        remedy_end = max(track.suit_until, track.reconsideration_until or track.suit_until)
        if applied_on <= date.fromisoformat(remedy_end):
            raise RuleViolation(
                "/applied_on", "remedy-period-running", f"the party may seek a remedy until {remedy_end}"
            )
        if applied_on > date.fromisoformat(track.court_application_until):
            raise RuleViolation(
                "/applied_on",
                "court-application-window",
                f"the application had to be made by {track.court_application_until} ({COURT_APPLICATION_RULE})",
            )
        refuse_personal_data_in_text("/court", court)
        self.trigger_event(
            self.CourtApplied,
            respondent=respondent,
            applied_on=applied_on.isoformat(),
            court=court,
            outstanding_fen=track.outstanding_fen(applied_on),
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )

    def record_court_ruling(
        self,
        *,
        respondent: int,
        ruled_on: date,
        ruling: CourtRuling,
        recovered_fen: int,
        document: DocumentRef,
        latest: date,
        command_key: str,
        command_fingerprint: str,
    ) -> None:
        """The court's ruling and what its enforcement recovered (no more than was
        outstanding): the track ends, enforced or refused."""
        track = self._track(respondent, "record_court_ruling")
        check_business_date("/ruled_on", ruled_on, latest, not_before=("applied_on", track.court_applied_on))
        outstanding = track.outstanding_fen(ruled_on)
        if recovered_fen < 0 or recovered_fen > outstanding or (ruling == "refused" and recovered_fen):
            raise RuleViolation(
                "/recovered_fen", "recovered", f"between 0 and the {outstanding} fen outstanding (0 if refused)"
            )
        self.trigger_event(
            self.CourtRuled,
            respondent=respondent,
            ruled_on=ruled_on.isoformat(),
            ruling=ruling,
            recovered_fen=recovered_fen,
            document=document,
            command_key=command_key,
            command_fingerprint=command_fingerprint,
        )
