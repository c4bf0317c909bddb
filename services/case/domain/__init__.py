"""The enforcement case (行政处罚案件) and the rules it keeps (shared/DOMAIN.md §3).

A case is filed (立案) against one or more respondents (当事人: 一案双罚 fines a unit and its
principal responsible person, each with their own decision). The case as a whole is
investigated (调查取证: evidence by content hash, inspections and interviews, 先行登记保存,
查封扣押), legally reviewed (法制审核) and discussed (负责人集体讨论); from the prior notice
(事先告知) on each respondent has a track of its own:

    investigating → notified → (hearing_requested → hearing_scheduled → heard) → decided
                             ↘ not_penalised (不予处罚)

The case's status follows its tracks: filed (no notice yet) → notified (a notice served,
some track still open) → decided (every track concluded, one at least with a penalty) or
not_penalised; and the other exits, dismissed (撤销立案) and suspended (中止: referred as a
suspected crime). The simplified procedure (简易程序) files and decides in one step.

Every date a command gives is a business date (the day the officer acted): never after
today (China time, with a small clock tolerance), never before the step it follows, never
before the Administrative Penalty Law took effect (BUSINESS_DATE_FLOOR).

The package, in the order a case lives it (each phase a class: its events, then the
commands that record them; ``Case`` joins them):

    vocabulary.py      states, the shapes of what is recorded, the catalogue's rule ids
    tracks.py          a respondent's track, and which command each state allows (409s)
    checks.py          what a command checks before anything is recorded (422s)
    state.py           CaseState: what every phase shares (status, deadlines, extensions)
    filing.py          立案, 撤销立案
    investigation.py   调查取证, 先行登记保存/查封扣押, 法制审核, 集体讨论
    decision.py        事先告知, 陈述申辩, 听证, 处罚决定 / 不予处罚
    on_the_spot.py     简易程序 (filed and decided in one step), 备案
    referral.py        中止 and 恢复 while referred (行刑衔接)
    after_decision.py  送达, 缴纳 and 加处罚款, 暂缓分期, 复议诉讼, 催告, 强制执行
    closure.py         结案, 归档, 批注
"""

from __future__ import annotations

from services.case.domain.after_decision import AfterDecision
from services.case.domain.closure import Closing
from services.case.domain.investigation import Investigation
from services.case.domain.on_the_spot import OnTheSpot
from services.case.domain.referral import Referring
from services.case.domain.tracks import (
    BEFORE_DECISION,
    DeadlineNotOpen,
    IllegalTransition,
    Track,
    accrued_surcharge_fen,
    allowed_actions,
    case_status,
)
from services.case.domain.vocabulary import (
    Agency,
    Approver,
    ArrangementKind,
    CaseStatus,
    CourtRuling,
    DeadlineChange,
    DisclosureFacts,
    Discretion,
    DocumentRef,
    EvidenceKind,
    InquiryKind,
    Instalment,
    MeasureKind,
    Name,
    NoPenaltyGround,
    Party,
    Penalty,
    RemedyKind,
    RemedyOutcome,
    RespondentState,
    Reviewer,
    ReviewOutcome,
    ServiceMethod,
    Sha256,
    ShortName,
    ShortText,
    StatementKind,
    WithheldBecause,
    decision_number,
)


class Case(OnTheSpot, Investigation, Referring, AfterDecision, Closing):
    """行政处罚案件. Created by filing (立案). Remembers each command's Idempotency-Key, so
    a retry is answered from its events.

    Each phase is a class of its own (its events and the commands that record them); the
    event classes are defined again here (``Case.Filed`` ...), so the topics stored since
    the first release (``services.case.domain:Case.Filed``) are the ones recorded today."""


# What the rest of the service (and its tests) take from the case.
__all__ = [
    "BEFORE_DECISION",
    "Agency",
    "Approver",
    "ArrangementKind",
    "Case",
    "CaseStatus",
    "CourtRuling",
    "DeadlineChange",
    "DeadlineNotOpen",
    "DisclosureFacts",
    "Discretion",
    "DocumentRef",
    "EvidenceKind",
    "IllegalTransition",
    "InquiryKind",
    "Instalment",
    "MeasureKind",
    "Name",
    "NoPenaltyGround",
    "Party",
    "Penalty",
    "RemedyKind",
    "RemedyOutcome",
    "RespondentState",
    "ReviewOutcome",
    "Reviewer",
    "ServiceMethod",
    "Sha256",
    "ShortName",
    "ShortText",
    "StatementKind",
    "Track",
    "WithheldBecause",
    "accrued_surcharge_fen",
    "allowed_actions",
    "case_status",
    "decision_number",
]
