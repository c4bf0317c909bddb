"""The permission table (权限表) and the jurisdiction rules (管辖范围).

One table says which role may run which command and read which resource; the README
shows it and tests/e2e/test_access.py calls every route with every role against it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import or_

from services.infra.identity import Principal


class Role(StrEnum):
    OFFICER = "officer"  # 执法人员
    LEGAL_REVIEWER = "legal_reviewer"  # 法制审核人员
    AGENCY_HEAD = "agency_head"  # 负责人
    PUBLIC_SECURITY = "public_security"  # 公安机关
    PROCURATORATE = "procuratorate"  # 人民检察院
    AUDITOR = "auditor"  # 执法监督, 案卷评查: reads everything in its jurisdiction, writes nothing
    INTEGRATION = "integration"  # another system subscribing to events
    ADMIN = "admin"  # the agency's system administrator: subscriptions, not cases


class Permission(StrEnum):
    FILE_CASE = "case:file"
    REVIEW_CASE = "case:review"
    DECIDE_PENALTY = "case:decide"
    INVESTIGATE = "case:investigate"
    NOTIFY = "case:notify"
    HEAR = "case:hear"
    DISCUSS = "case:discuss"
    DECIDE_ON_THE_SPOT = "case:decide-on-the-spot"
    READ_CASES = "case:read"
    READ_CASE_HISTORY = "case:read-history"
    EXTEND_DEADLINE = "case:extend-deadline"
    # After the decision (issue 12).
    SERVE = "case:serve"
    RECORD_PAYMENT = "case:record-payment"
    ARRANGE_PAYMENT = "case:arrange-payment"
    RECORD_REMEDY = "case:record-remedy"
    ENFORCE = "case:enforce"
    CLOSE_CASE = "case:close"
    ANNOTATE = "case:annotate"
    READ_RULES = "rules:read"
    REFER_CASE = "referral:refer"
    APPROVE_REFERRAL = "referral:approve"
    ANSWER_REFERRAL = "referral:answer"
    SUPERVISE_REFERRAL = "referral:supervise"
    RECORD_CRIMINAL_OUTCOME = "referral:record-outcome"
    READ_REFERRALS = "referral:read"
    READ_REFERRAL_STATISTICS = "referral:read-statistics"
    # The publication lifecycle (issue 14): the agency's view of its publications, and
    # credit repair (信用修复) recorded for the party and decided by the head.
    READ_PUBLICATIONS = "publication:read"
    RECORD_REPAIR_APPLICATION = "publication:record-repair-application"
    DECIDE_REPAIR = "publication:decide-repair"
    MANAGE_SUBSCRIPTIONS = "subscription:manage"
    READ_SUBSCRIPTIONS = "subscription:read"
    READ_DELIVERIES = "delivery:read"
    # Tamper evidence: signed tree heads and proofs (hashes only), and running a verification.
    READ_LOG = "log:read"
    VERIFY_LOG = "log:verify"
    # The audit of reads: who saw a person's data in full, a history, an export.
    READ_READ_AUDIT = "audit:read"
    # Not a route: who gets natural persons' ID numbers, phones and addresses in full.
    READ_PERSONAL_DATA = "personal-data:read"


R = Role
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.FILE_CASE: frozenset({R.OFFICER}),
    Permission.REVIEW_CASE: frozenset({R.LEGAL_REVIEWER}),
    # The decision, a no-penalty decision, a dismissal: the agency head (a suspension comes from the referral).
    Permission.DECIDE_PENALTY: frozenset({R.AGENCY_HEAD}),
    # Evidence, inspections and interviews, measures (approved by the head, who is named).
    Permission.INVESTIGATE: frozenset({R.OFFICER}),
    # The prior notice served, statements and hearing requests received: by the officers.
    Permission.NOTIFY: frozenset({R.OFFICER}),
    # A hearing is scheduled and chaired by the legal office or the head, never an
    # investigator (the case checks the chair did not investigate it).
    Permission.HEAR: frozenset({R.LEGAL_REVIEWER, R.AGENCY_HEAD}),
    Permission.DISCUSS: frozenset({R.AGENCY_HEAD}),
    # 简易程序: the officers on the spot decide, and report to the agency afterwards.
    Permission.DECIDE_ON_THE_SPOT: frozenset({R.OFFICER}),
    Permission.READ_CASES: frozenset({R.OFFICER, R.LEGAL_REVIEWER, R.AGENCY_HEAD, R.AUDITOR}),
    Permission.READ_CASE_HISTORY: frozenset({R.OFFICER, R.LEGAL_REVIEWER, R.AGENCY_HEAD, R.AUDITOR}),
    # An extension or suspension of a deadline is approved by the agency head.
    Permission.EXTEND_DEADLINE: frozenset({R.AGENCY_HEAD}),
    # The decision served (and the consent to electronic service, and the reminder 催告):
    # by the officers; payments are recorded from the bank's receipts, and the court's
    # ruling as it comes back, by them too.
    Permission.SERVE: frozenset({R.OFFICER}),
    Permission.RECORD_PAYMENT: frozenset({R.OFFICER}),
    # A deferral or instalments is approved by the agency head.
    Permission.ARRANGE_PAYMENT: frozenset({R.AGENCY_HEAD}),
    # Reconsideration and suits (复议、应诉) are the legal office's.
    Permission.RECORD_REMEDY: frozenset({R.LEGAL_REVIEWER}),
    # The application to the court is the agency head's.
    Permission.ENFORCE: frozenset({R.AGENCY_HEAD}),
    # Closure and archive are approved by the head; annotations by anyone who works the case.
    Permission.CLOSE_CASE: frozenset({R.AGENCY_HEAD}),
    Permission.ANNOTATE: frozenset({R.OFFICER, R.LEGAL_REVIEWER, R.AGENCY_HEAD}),
    # The rules catalogue is public law: every authenticated role reads it.
    Permission.READ_RULES: frozenset(Role),
    # The referring agency's steps: the report, the dispatch, reconsideration requests, the
    # hand-over, taking a case back, a fine already paid.
    Permission.REFER_CASE: frozenset({R.OFFICER, R.AGENCY_HEAD}),
    # 负责人 approves or refuses a referral.
    Permission.APPROVE_REFERRAL: frozenset({R.AGENCY_HEAD}),
    # The police's steps on the referrals addressed to them: receipt, filing decision,
    # the answer to a reconsideration.
    Permission.ANSWER_REFERRAL: frozenset({R.PUBLIC_SECURITY}),
    # 立案监督, by the procuratorate with the copy.
    Permission.SUPERVISE_REFERRAL: frozenset({R.PROCURATORATE}),
    # Criminal outcomes (detained, arrested, prosecuted, judged, ...), as either organ learns them.
    Permission.RECORD_CRIMINAL_OUTCOME: frozenset({R.PUBLIC_SECURITY, R.PROCURATORATE}),
    Permission.READ_REFERRALS: frozenset(
        {R.OFFICER, R.LEGAL_REVIEWER, R.AGENCY_HEAD, R.AUDITOR, R.PUBLIC_SECURITY, R.PROCURATORATE}
    ),
    # The yearly joint figures, for the agency and its supervisors (whole jurisdiction).
    Permission.READ_REFERRAL_STATISTICS: frozenset({R.OFFICER, R.AGENCY_HEAD, R.AUDITOR}),
    # The agency's publications by state: those who work its cases, and its supervisors.
    Permission.READ_PUBLICATIONS: frozenset({R.OFFICER, R.LEGAL_REVIEWER, R.AGENCY_HEAD, R.AUDITOR}),
    # The party applies through the agency's system: an officer records the application;
    # the agency head grants or refuses it.
    Permission.RECORD_REPAIR_APPLICATION: frozenset({R.OFFICER}),
    Permission.DECIDE_REPAIR: frozenset({R.AGENCY_HEAD}),
    Permission.MANAGE_SUBSCRIPTIONS: frozenset({R.INTEGRATION, R.ADMIN}),
    Permission.READ_SUBSCRIPTIONS: frozenset({R.INTEGRATION, R.ADMIN, R.AUDITOR}),
    Permission.READ_DELIVERIES: frozenset({R.INTEGRATION, R.ADMIN, R.AUDITOR}),
    # Heads and proofs are hashes: every authenticated caller may check the log with them.
    Permission.READ_LOG: frozenset(Role),
    Permission.VERIFY_LOG: frozenset({R.AUDITOR, R.ADMIN}),
    Permission.READ_READ_AUDIT: frozenset({R.AUDITOR}),
    Permission.READ_PERSONAL_DATA: frozenset(
        {R.OFFICER, R.LEGAL_REVIEWER, R.AGENCY_HEAD, R.PUBLIC_SECURITY, R.PROCURATORATE}
    ),
}
# Roles that write: an agency may act only on its own cases, never a subordinate's.
RECEIVING_ORGAN_ROLES = frozenset({R.PUBLIC_SECURITY, R.PROCURATORATE})


def may(principal: Principal, permission: Permission) -> bool:
    return bool(principal.roles & PERMISSIONS[permission])


def reads_personal_data(principal: Principal) -> bool:
    """Whether natural persons' ID numbers, phones and addresses are shown in full to the
    caller (else masked)."""
    return may(principal, Permission.READ_PERSONAL_DATA)


def jurisdiction_prefix(region_code: str) -> str:
    """The region codes an agency oversees (行政区划代码 GB/T 2260): a province (xx0000)
    every code starting with its 2 digits, a city (xxxx00) its 4, a county only its own."""
    code = region_code[:6]
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def sees_agency(principal: Principal, agency_code: str, region_code: str) -> bool:
    """An agency sees its own cases; a province or city also its subordinate regions'."""
    if principal.agency_code == agency_code:
        return True
    prefix = jurisdiction_prefix(principal.region_code)
    return len(prefix) < 6 and region_code.startswith(prefix)


def acts_for_agency(principal: Principal, agency_code: str) -> bool:
    """Commands are run by the case's own agency only."""
    return principal.agency_code == agency_code


def is_receiving_organ(principal: Principal) -> bool:
    return bool(principal.roles & RECEIVING_ORGAN_ROLES)


def jurisdiction_clause(principal: Principal, agency_code: Any, region_code: Any) -> Any:
    """The SQL condition for rows (by their agency and region columns) the caller sees."""
    own = agency_code == principal.agency_code
    prefix = jurisdiction_prefix(principal.region_code)
    return or_(own, region_code.startswith(prefix)) if len(prefix) < 6 else own
