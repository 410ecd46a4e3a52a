"""SEPA tags in a CSV purpose text ("EREF: E2E-1 MREF: M-7 CRED: DE98ZZZ... SVWZ: RE 4711").

German banks (and the MT940 field 86 they export from) print a SEPA booking's structured
fields as tagged runs inside one purpose text: `EREF` end-to-end id, `KREF` the ordering
customer's reference (a payment run's PmtInfId on a batch), `MREF` mandate reference,
`CRED` creditor id, `DEBT` debtor id, `SVWZ` the remittance text proper, `ABWA`/`ABWE`
the ultimate debtor/creditor, `IBAN`/`BIC` the counterparty's account, `COAM`/`OAMT`
compensation and original amounts, `PURP` purpose code. A tag is written `EREF: `,
`EREF+` or `EREF:`; the value runs to the next tag. Banks break the text into 27- or
35-character lines, so tags may follow each other without a space.

Only upper-case tags followed by `:` or `+` count, so ordinary words ("Iban", "Kref") in
the free text do not; placeholders (`NOTPROVIDED`, `NONREF`) are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

TAGS: Final = (
    "EREF", "KREF", "MREF", "CRED", "DEBT", "SVWZ", "ABWA", "ABWE", "IBAN", "BIC", "COAM",
    "OAMT", "PURP",
)  # fmt: skip
_TAG: Final = re.compile(r"(" + "|".join(TAGS) + r")(?:\s*:\s*|\+)")
# Cheap pre-check: a purpose text without any of these has no tags worth parsing.
_MARKERS: Final = ("REF", "SVWZ", "CRED", "ABW", "DEBT")
_PLACEHOLDERS: Final = frozenset({"NOTPROVIDED", "NONREF", "NONE", "NOREF"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SepaTags:
    end_to_end_id: str | None = None
    customer_reference: str | None = None  # KREF
    mandate_reference: str | None = None
    creditor_id: str | None = None
    remittance: str | None = None  # SVWZ
    ultimate_party: str | None = None  # ABWA / ABWE
    counterparty_iban: str | None = None


def might_have_tags(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


def sepa_tags(text: str) -> SepaTags | None:
    """The tagged fields of `text`, or None when it carries no SEPA tag."""
    if not might_have_tags(text):
        return None
    found = list(_TAG.finditer(text))
    if not found:
        return None
    values: dict[str, str] = {}
    for i, match in enumerate(found):
        end = found[i + 1].start() if i + 1 < len(found) else len(text)
        value = " ".join(text[match.end() : end].split())
        if value and match[1] not in values:
            values[match[1]] = value
    if not values:
        return None

    def get(tag: str) -> str | None:
        value = values.get(tag)
        if value is None or value.replace(" ", "").upper() in _PLACEHOLDERS:
            return None
        return value

    iban = get("IBAN")
    return SepaTags(
        end_to_end_id=_compact(get("EREF")),
        customer_reference=_compact(get("KREF")),
        mandate_reference=_compact(get("MREF")),
        creditor_id=_compact(get("CRED")),
        remittance=get("SVWZ"),
        ultimate_party=get("ABWA") or get("ABWE"),
        counterparty_iban=iban.replace(" ", "").upper() if iban else None,
    )


SEPA_REFERENCE_MAX: Final = 35  # end-to-end id, mandate, creditor id: 35 characters at most


def _compact(value: str | None) -> str | None:
    """A reference is one token, which a bank's line break may have cut in two: the
    pieces are joined while they fit a SEPA reference; beyond that, the text after the
    first token is free text the bank left untagged."""
    if value is None:
        return None
    joined = value.replace(" ", "")
    if len(joined) <= SEPA_REFERENCE_MAX:
        return joined
    return value.split(" ", 1)[0][:SEPA_REFERENCE_MAX]
