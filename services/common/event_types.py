"""The vocabulary of CloudEvent types on the case-events topic: one constant per type.

A type is a word of the contract between services: the service that emits it sets it on
its event class (``cloud_type``), and the projections and policies of every service
declare the types they handle with it (``handles``), without importing the emitting
service's code. Reverse-DNS and versioned; within a version only additive changes, a
breaking change is a new constant (contracts/events/ has one schema per constant).
"""

from __future__ import annotations

PREFIX = "cn.caseledger."

CASE_FILED = PREFIX + "case.filed.v1"
CASE_LEGAL_REVIEW_RECORDED = PREFIX + "case.legal_review_recorded.v1"
CASE_PENALTY_DECIDED = PREFIX + "case.penalty_decided.v1"
# A statutory deadline of a case: approaching (within the lead), missed, moved by an
# approved extension or suspension.
CASE_DEADLINE_APPROACHING = PREFIX + "case.deadline_approaching.v1"
CASE_DEADLINE_MISSED = PREFIX + "case.deadline_missed.v1"
CASE_DEADLINE_EXTENDED = PREFIX + "case.deadline_extended.v1"
# The procedure up to the decision (issue 11): investigation, review and discussion, a
# respondent's prior notice, statement and hearing, the other exits, the simplified
# procedure, and the agency's register of decision numbers.
CASE_EVIDENCE_RECORDED = PREFIX + "case.evidence_recorded.v1"
CASE_INQUIRY_RECORDED = PREFIX + "case.inquiry_recorded.v1"
CASE_MEASURE_TAKEN = PREFIX + "case.measure_taken.v1"
CASE_MEASURE_EXTENDED = PREFIX + "case.measure_extended.v1"
CASE_MEASURE_CONCLUDED = PREFIX + "case.measure_concluded.v1"
CASE_COLLECTIVE_DISCUSSION_RECORDED = PREFIX + "case.collective_discussion_recorded.v1"
CASE_PRIOR_NOTICE_SERVED = PREFIX + "case.prior_notice_served.v1"
CASE_STATEMENT_RECORDED = PREFIX + "case.statement_recorded.v1"
CASE_HEARING_REQUESTED = PREFIX + "case.hearing_requested.v1"
CASE_HEARING_SCHEDULED = PREFIX + "case.hearing_scheduled.v1"
CASE_HEARING_HELD = PREFIX + "case.hearing_held.v1"
CASE_NOT_PENALISED = PREFIX + "case.not_penalised.v1"
CASE_DISMISSED = PREFIX + "case.dismissed.v1"
CASE_SUSPENDED_FOR_REFERRAL = PREFIX + "case.suspended_for_referral.v1"
CASE_RESUMED_AFTER_REFERRAL = PREFIX + "case.resumed_after_referral.v1"
CASE_REPORTED_TO_AGENCY = PREFIX + "case.reported_to_agency.v1"
CASE_DECISION_NUMBER_ASSIGNED = PREFIX + "case.decision_number_assigned.v1"
# After the decision (issue 12): service, payment, remedies and their corrections, court
# enforcement, closure and archive.
CASE_SERVICE_CONSENT_RECORDED = PREFIX + "case.service_consent_recorded.v1"
CASE_DECISION_SERVED = PREFIX + "case.decision_served.v1"
CASE_PAYMENT_ARRANGED = PREFIX + "case.payment_arranged.v1"
CASE_PAYMENT_RECORDED = PREFIX + "case.payment_recorded.v1"
CASE_REMEDY_FILED = PREFIX + "case.remedy_filed.v1"
CASE_REMEDY_DECIDED = PREFIX + "case.remedy_decided.v1"
CASE_DECISION_CORRECTED = PREFIX + "case.decision_corrected.v1"
CASE_REMINDER_SERVED = PREFIX + "case.reminder_served.v1"
CASE_COURT_APPLIED = PREFIX + "case.court_applied.v1"
CASE_COURT_RULED = PREFIX + "case.court_ruled.v1"
CASE_CLOSED = PREFIX + "case.closed.v1"
CASE_ARCHIVED = PREFIX + "case.archived.v1"
CASE_ANNOTATED = PREFIX + "case.annotated.v1"
# A referral ended in a criminal judgment: the respondents not yet decided end as referred.
CASE_CONCLUDED_BY_REFERRAL = PREFIX + "case.concluded_by_referral.v1"
# Events about no case: the agency's register of decision numbers is keyed by itself (its
# serials in order on one partition). They are on the topic for consumers; webhooks carry
# the events of cases, and the number reaches them in case.penalty_decided.v1.
NOT_OF_A_CASE = frozenset({CASE_DECISION_NUMBER_ASSIGNED})
# Recorded only before the referral lifecycle (a referral in one step); kept for those events.
REFERRAL_REFERRED = PREFIX + "referral.referred.v1"
# The referral lifecycle (行刑衔接), one type per step.
REFERRAL_REPORTED = PREFIX + "referral.reported.v1"
REFERRAL_HEAD_DECIDED = PREFIX + "referral.head_decided.v1"
REFERRAL_DISPATCHED = PREFIX + "referral.dispatched.v1"
REFERRAL_RECEIVED = PREFIX + "referral.received.v1"
REFERRAL_FILING_DECIDED = PREFIX + "referral.filing_decided.v1"
REFERRAL_RECONSIDERATION_REQUESTED = PREFIX + "referral.reconsideration_requested.v1"
REFERRAL_RECONSIDERATION_ANSWERED = PREFIX + "referral.reconsideration_answered.v1"
REFERRAL_SUPERVISED = PREFIX + "referral.supervised.v1"
REFERRAL_HANDED_OVER = PREFIX + "referral.handed_over.v1"
REFERRAL_OUTCOME_RECORDED = PREFIX + "referral.outcome_recorded.v1"
# 反向衔接: the case comes back to the agency; the case service resumes it.
REFERRAL_RETURNED = PREFIX + "referral.returned.v1"
REFERRAL_PAID_FINE_RECORDED = PREFIX + "referral.paid_fine_recorded.v1"
# A referral's statutory deadline (the police's filing decision, ...): approaching, missed.
REFERRAL_DEADLINE_APPROACHING = PREFIX + "referral.deadline_approaching.v1"
REFERRAL_DEADLINE_MISSED = PREFIX + "referral.deadline_missed.v1"
DISCLOSURE_PUBLICATION_PREPARED = PREFIX + "disclosure.publication_prepared.v1"
DISCLOSURE_PUBLISHED = PREFIX + "disclosure.published.v1"
# The publication lifecycle (issue 14): not published (with the ground), withdrawn on a
# correction of the decision, ended at the end of its period, credit repair applied for,
# granted or refused, and Credit China told of a withdrawal, an end or a repair.
DISCLOSURE_PUBLICATION_WITHHELD = PREFIX + "disclosure.publication_withheld.v1"
DISCLOSURE_WITHDRAWN = PREFIX + "disclosure.withdrawn.v1"
DISCLOSURE_ENDED = PREFIX + "disclosure.ended.v1"
DISCLOSURE_REPAIR_APPLIED = PREFIX + "disclosure.repair_applied.v1"
DISCLOSURE_REPAIR_GRANTED = PREFIX + "disclosure.repair_granted.v1"
DISCLOSURE_REPAIR_REFUSED = PREFIX + "disclosure.repair_refused.v1"
DISCLOSURE_CREDIT_CHINA_NOTIFIED = PREFIX + "disclosure.credit_china_notified.v1"
# The publication deadline (7 working days from the decision): approaching, missed.
DISCLOSURE_DEADLINE_APPROACHING = PREFIX + "disclosure.deadline_approaching.v1"
DISCLOSURE_DEADLINE_MISSED = PREFIX + "disclosure.deadline_missed.v1"

ALL = frozenset(
    {
        CASE_FILED,
        CASE_LEGAL_REVIEW_RECORDED,
        CASE_PENALTY_DECIDED,
        CASE_DEADLINE_APPROACHING,
        CASE_DEADLINE_MISSED,
        CASE_DEADLINE_EXTENDED,
        CASE_EVIDENCE_RECORDED,
        CASE_INQUIRY_RECORDED,
        CASE_MEASURE_TAKEN,
        CASE_MEASURE_EXTENDED,
        CASE_MEASURE_CONCLUDED,
        CASE_COLLECTIVE_DISCUSSION_RECORDED,
        CASE_PRIOR_NOTICE_SERVED,
        CASE_STATEMENT_RECORDED,
        CASE_HEARING_REQUESTED,
        CASE_HEARING_SCHEDULED,
        CASE_HEARING_HELD,
        CASE_NOT_PENALISED,
        CASE_DISMISSED,
        CASE_SUSPENDED_FOR_REFERRAL,
        CASE_RESUMED_AFTER_REFERRAL,
        CASE_REPORTED_TO_AGENCY,
        CASE_DECISION_NUMBER_ASSIGNED,
        CASE_SERVICE_CONSENT_RECORDED,
        CASE_DECISION_SERVED,
        CASE_PAYMENT_ARRANGED,
        CASE_PAYMENT_RECORDED,
        CASE_REMEDY_FILED,
        CASE_REMEDY_DECIDED,
        CASE_DECISION_CORRECTED,
        CASE_REMINDER_SERVED,
        CASE_COURT_APPLIED,
        CASE_COURT_RULED,
        CASE_CLOSED,
        CASE_ARCHIVED,
        CASE_ANNOTATED,
        CASE_CONCLUDED_BY_REFERRAL,
        REFERRAL_REFERRED,
        REFERRAL_REPORTED,
        REFERRAL_HEAD_DECIDED,
        REFERRAL_DISPATCHED,
        REFERRAL_RECEIVED,
        REFERRAL_FILING_DECIDED,
        REFERRAL_RECONSIDERATION_REQUESTED,
        REFERRAL_RECONSIDERATION_ANSWERED,
        REFERRAL_SUPERVISED,
        REFERRAL_HANDED_OVER,
        REFERRAL_OUTCOME_RECORDED,
        REFERRAL_RETURNED,
        REFERRAL_PAID_FINE_RECORDED,
        REFERRAL_DEADLINE_APPROACHING,
        REFERRAL_DEADLINE_MISSED,
        DISCLOSURE_PUBLICATION_PREPARED,
        DISCLOSURE_PUBLISHED,
        DISCLOSURE_PUBLICATION_WITHHELD,
        DISCLOSURE_WITHDRAWN,
        DISCLOSURE_ENDED,
        DISCLOSURE_REPAIR_APPLIED,
        DISCLOSURE_REPAIR_GRANTED,
        DISCLOSURE_REPAIR_REFUSED,
        DISCLOSURE_CREDIT_CHINA_NOTIFIED,
        DISCLOSURE_DEADLINE_APPROACHING,
        DISCLOSURE_DEADLINE_MISSED,
    }
)
