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
REFERRAL_REFERRED = PREFIX + "referral.referred.v1"
# A referral's statutory deadline (the police's filing decision, ...): approaching, missed.
REFERRAL_DEADLINE_APPROACHING = PREFIX + "referral.deadline_approaching.v1"
REFERRAL_DEADLINE_MISSED = PREFIX + "referral.deadline_missed.v1"
DISCLOSURE_PUBLICATION_PREPARED = PREFIX + "disclosure.publication_prepared.v1"
DISCLOSURE_PUBLISHED = PREFIX + "disclosure.published.v1"
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
        REFERRAL_REFERRED,
        REFERRAL_DEADLINE_APPROACHING,
        REFERRAL_DEADLINE_MISSED,
        DISCLOSURE_PUBLICATION_PREPARED,
        DISCLOSURE_PUBLISHED,
        DISCLOSURE_DEADLINE_APPROACHING,
        DISCLOSURE_DEADLINE_MISSED,
    }
)
