"""Personal information (个人信息) of natural persons as every service handles it: sealed
values recorded with a masked form, masking for display, and a person's name as the
public sees it. Which fields are sealed is the case service's call (it seals them before
any event records them); the key ring and the cipher are infrastructure
(``services.infra.crypto``)."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from services.infra.crypto import FieldCipher, masked_copy, revealed_copy

# Two-character surnames (复姓), so 欧阳小明 becomes 欧阳某某 and not 欧某某.
COMPOUND_SURNAMES = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
    "宇文", "司徒", "夏侯", "令狐", "端木", "独孤", "南宫", "西门", "呼延", "轩辕",
)  # fmt: skip


class SealedText(TypedDict):
    """A personal-data value as recorded: ciphertext plus a masked form for display."""

    masked: str
    sealed: str


def mask(field: str, value: str) -> str:
    """430281198001011234 -> 430281********1234; 13800138000 -> 138****8000;
    an address keeps its first few characters (the district), never the house."""
    if field == "code":
        return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)
    if field == "phone":
        digits = value.strip()
        return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "*" * len(digits)
    keep = min(6, len(value) // 2)
    return value[:keep] + "****"


def mask_person_name(name: str) -> str:
    """黄小明 -> 黄某某; compound surnames kept whole (欧阳小明 -> 欧阳某某)."""
    name = name.strip()
    surname = next((s for s in COMPOUND_SURNAMES if name.startswith(s) and len(name) > len(s)), name[:1])
    return f"{surname}某某"


def party_as_shown(party: dict[str, Any], cipher: FieldCipher, full: bool) -> dict[str, Any]:
    """A recorded party as a caller sees it: a natural person's sealed fields opened for
    roles that may read personal data (``full``), their masked forms for everyone else."""
    shown: dict[str, Any] = revealed_copy(party, cipher, "party") if full else masked_copy(party)
    return shown


def event_data_as_shown(data: dict[str, Any], cipher: FieldCipher, full: bool) -> dict[str, Any]:
    """An event's data as a caller sees it: its parties (``party``, ``respondents``, each
    sealed under the "party" path wherever it sits) as ``party_as_shown``; anything else
    sealed masked."""
    shown = dict(data)
    if isinstance(shown.get("party"), dict):
        shown["party"] = party_as_shown(shown["party"], cipher, full)
    if isinstance(shown.get("respondents"), list):
        shown["respondents"] = [party_as_shown(p, cipher, full) for p in shown["respondents"]]
    masked: dict[str, Any] = masked_copy(shown)
    return masked
