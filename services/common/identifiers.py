"""Identifiers of the parties to a case and of the agencies, with their check characters,
and the patterns that find personal identifiers in free text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Annotated

from pydantic import StringConstraints
from pydantic_core import PydanticCustomError

from services.infra.errors import RuleViolation

# 统一社会信用代码 (GB 32100-2015): 18 characters from this alphabet, the last a check character.
USCC_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{18}$"
USCC = Annotated[str, StringConstraints(pattern=USCC_PATTERN)]
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# 居民身份证号码 (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# What looks like a resident ID number, or a mainland mobile number, inside free text.
RESIDENT_ID_LIKE = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE_LIKE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def is_valid_uscc(code: str) -> bool:
    """统一社会信用代码 (GB 32100-2015): 18 characters, last one a check character."""
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code):
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31] == code[17]


def is_valid_resident_id(code: str) -> bool:
    """居民身份证号码 (GB 11643-1999): 17 digits and an ISO 7064 MOD 11-2 check character."""
    if len(code) != 18 or not code[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(code[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == code[17].upper()


def personal_identifier_in(text: str) -> str | None:
    """What kind of personal identifier a free text contains, if any: identifiers belong
    in the party's fields (which are sealed), not in narrative text (which is not)."""
    if any(is_valid_resident_id(m.group()) for m in RESIDENT_ID_LIKE.finditer(text)):
        return "a resident ID number"
    if MOBILE_LIKE.search(text):
        return "a mobile phone number"
    return None


def refuse_personal_identifiers(texts: Iterable[tuple[str, str]], *, where: str = "body") -> None:
    """Free text is stored in clear (events, topic, read models, webhooks), so it must not
    carry personal identifiers: they go in the party's fields, which are sealed. Each
    (pointer, text) with one is refused (422 no-personal-data-in-text) naming its field."""
    for pointer, text in texts:
        found = personal_identifier_in(text)
        if found:
            raise RuleViolation(
                pointer,
                "no-personal-data-in-text",
                f"the text contains {found}; give it only in the party's fields",
                where=where,
            )


def without_personal_identifier(text: str) -> str:
    """A pydantic validator (``AfterValidator``) for short free-text fields of a request
    (names, titles): the same rule, refused as a field of the request (422, rule
    no-personal-data-in-text)."""
    found = personal_identifier_in(text)
    if found:
        raise PydanticCustomError(
            "no-personal-data-in-text",
            "the text contains {found}; give it only in the party's fields",
            {"found": found},
        )
    return text


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
