"""Personal information (个人信息) of natural persons in a case: the ID number, phone and
address. They are sealed (encrypted) before any event records them, so the event store,
Kafka and every read model hold only ciphertext and a masked form; the API opens them
for roles that need the full value and shows the masked form to everyone else.

An enterprise's unified social credit code, and anyone's name, are not sealed: the code
is public registration data, and the name is needed to run the case (the public feed
masks it).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from typing_extensions import TypedDict

from services.infra.crypto import FieldCipher, is_sealed, masked_copy, revealed_copy

PERSONAL_FIELDS = ("code", "phone", "address")
_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class SealedText(TypedDict):
    """A personal-data value as recorded: ciphertext plus a masked form for display."""

    masked: str
    sealed: str


def is_valid_resident_id(code: str) -> bool:
    """居民身份证号码 (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character."""
    if len(code) != 18 or not code[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(code[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == code[17].upper()


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


def seal_party(party: dict[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    """The party as events record it: a natural person's personal fields sealed."""
    if party["kind"] != "natural_person":
        return dict(party)
    return {
        key: SealedText(masked=mask(key, value), sealed=cipher.seal(value, f"party.{key}"))
        if key in PERSONAL_FIELDS and isinstance(value, str)
        else value
        for key, value in party.items()
    }


def reveal_party(party: dict[str, Any], cipher: FieldCipher) -> dict[str, Any]:
    """The full values, for roles that may read personal data."""
    revealed: dict[str, Any] = revealed_copy(party, cipher, "party")
    return revealed


def masked_party(party: dict[str, Any]) -> dict[str, Any]:
    """The masked values, for everyone else."""
    masked: dict[str, Any] = masked_copy(party)
    return masked


def show_party(party: dict[str, Any], cipher: FieldCipher, full: bool) -> dict[str, Any]:
    return reveal_party(party, cipher) if full else masked_party(party)


def lookup_code(party: dict[str, Any], cipher: FieldCipher) -> str:
    """What the ledger indexes a party by: an enterprise's code as is, a person's ID
    number as a keyed digest, so the ledger can be searched by it without holding it."""
    code = party["code"]
    if is_sealed(code):
        return cipher.digest(cipher.open(code["sealed"], "party.code").upper())
    return str(code)


def personal_identifier_in(text: str) -> str | None:
    """What kind of personal identifier a free text contains, if any: identifiers belong
    in the party's fields (which are sealed), not in narrative text (which is not)."""
    if any(is_valid_resident_id(m.group()) for m in _ID_LIKE.finditer(text)):
        return "a resident ID number"
    if _MOBILE.search(text):
        return "a mobile phone number"
    return None


def is_minor_on(resident_id: str, day: date) -> bool:
    """Under 18 on ``day``, from the birth date in the resident ID number."""
    try:
        born = date(int(resident_id[6:10]), int(resident_id[10:12]), int(resident_id[12:14]))
    except ValueError:
        return False
    try:
        adult = born.replace(year=born.year + 18)
    except ValueError:  # born on 29 February
        adult = date(born.year + 18, 3, 1)
    return adult > day
