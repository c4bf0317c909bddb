"""Personal information (个人信息) of natural persons in a case: the ID number, phone and
address. They are sealed (encrypted) before any event records them, so the event store,
Kafka and every read model hold only ciphertext and a masked form; the API opens them
for roles that need the full value and shows the masked form to everyone else
(``services.common.personal_data``).

An enterprise's unified social credit code, and anyone's name, are not sealed: the code
is public registration data, and the name is needed to run the case (the public feed
masks it).
"""

from __future__ import annotations

from typing import Any

from services.common.personal_data import SealedText, mask
from services.infra.crypto import FieldCipher, is_sealed

PERSONAL_FIELDS = ("code", "phone", "address")


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


def lookup_code(party: dict[str, Any], cipher: FieldCipher) -> str:
    """What the ledger indexes a party by: an enterprise's code as is, a person's ID
    number as a keyed digest, so the ledger can be searched by it without holding it."""
    code = party["code"]
    if is_sealed(code):
        return cipher.digest(cipher.open(code["sealed"], "party.code").upper())
    return str(code)
