"""Reference extraction and normalisation for the matcher (pure, stdlib only).

Every row is reduced once to a small sorted tuple of *reference keys*; two rows share a
reference when their key tuples intersect. Keys carry a one-letter kind so that the two
kinds never compare equal to each other:

- ``R:<text>``: a full reference (end-to-end id, creditor reference, bank or GL reference,
  or a reference-looking token of the free text), upper-cased with everything but letters
  and digits removed, so ``RF18 5390 0754 7034`` == ``rf18539007547034`` and
  ``E2E-123/ABC`` == ``E2E123ABC``.
- ``I:<digits>``: an invoice number found after an invoice keyword (``INV-4711``,
  ``Invoice 4711``, ``Rechnung Nr. 4711``, ``RG 2024/0815``) or given as a bare number in a
  reference field. Only the digits count and leading zeros are dropped, so ``INV-004711``
  and ``Invoice 4711`` agree.

Short numbers are the classic source of false matches (``Invoice 12`` and ``order 12``), so
an invoice key needs at least :data:`MIN_INVOICE_DIGITS` significant digits, a full
reference at least :data:`MIN_REFERENCE_LENGTH` characters, and a free-text token only
counts as a reference when it mixes letters and digits (dates and amounts do not) and is
not an IBAN (that is counterparty evidence, scored separately). camt placeholders such as
``NOTPROVIDED`` are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MIN_REFERENCE_LENGTH: Final = 5
MIN_INVOICE_DIGITS: Final = 4
# A bare number in a reference field is taken as an invoice number only up to this length;
# longer digit strings (QRR: 27 digits) are structured references, compared whole.
MAX_INVOICE_DIGITS: Final = 12

REFERENCE_KIND: Final = "R:"
INVOICE_KIND: Final = "I:"

# Values banks put in reference fields when there is no reference.
PLACEHOLDERS: Final = frozenset(
    {"NOTPROVIDED", "NONREF", "NONE", "NOREF", "UNKNOWN", "NULL", "NA", "NOTAVAILABLE"}
)

_NON_ALNUM = re.compile(r"[^0-9A-Z]+")
_DIGITS_ONLY = re.compile(r"[0-9]+")
# An invoice keyword, alone or glued to its number ("INVOICE", "NR.", "INV-4711"). The number
# may carry separators ("2024/0815"); only its digits count. A keyword must be a whole word
# (or be followed by its number), so "REISEN" or "RETURN" are no keywords.
_KEYWORD_WORD = re.compile(
    r"(?:INVOICE|INV|RECHNUNGSNR|RECHNUNG|RECH|RGNR|RG|RE|BILL|FACTURE|FACTURA|FATTURA"
    r"|FAKTURA|FACT|FAKT)[.:#\-]*([0-9][0-9/\-.]*)?[,;)]*"
)
# The word after a keyword: an optional "no"/"nr" (maybe glued: "NR.4711") and the number.
_NUMBER_WORD = re.compile(r"(?:NO|NR|NUMBER|NUM|NUMMER)?[.:#\-]*([0-9][0-9/\-.]*)")
_FILLERS = frozenset({"NO", "NR", "NUMBER", "NUM", "NUMMER", ""})
_KEYWORD_PREFIXES = frozenset({"IN", "RE", "RG", "BI", "FA"})
QRR_LENGTH: Final = 27  # Swiss QR reference: 27 digits, usually printed as 2 + 5x5
_IBAN_LIKE = re.compile(r"[A-Z]{2}[0-9]{2}[0-9A-Z]{11,30}")
# Cheap pre-checks that let most texts skip the expensive patterns (the matcher extracts
# keys from millions of rows): no digit means no key at all, and the invoice pattern only
# runs from a word that starts like an invoice keyword.
_DIGIT = re.compile(r"[0-9]")
_BASE36: Final = str.maketrans({c: str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
_KEYWORD_INITIALS = frozenset("IRBF")
_SUB_SEPARATORS = re.compile(r"[:;,()\[\]]")


def normalise_reference(text: str) -> str:
    """Upper case, letters and digits only (``"rf18 5390-0754"`` -> ``"RF1853900754"``)."""
    return _NON_ALNUM.sub("", text.upper())


def _invoice_key(digits: str) -> str | None:
    significant = digits.lstrip("0")
    if MIN_INVOICE_DIGITS <= len(significant) <= MAX_INVOICE_DIGITS:
        return INVOICE_KIND + significant
    return None


def _invoice_at(words: list[str], i: int) -> str | None:
    """The invoice key of an invoice keyword at words[i] (and the words after it)."""
    if words[i][:2] not in _KEYWORD_PREFIXES:
        return None  # cheap test before the regex ("RHEIN", "BERLIN" are no keywords)
    match = _KEYWORD_WORD.fullmatch(words[i])
    if match is None:
        return None
    number = match.group(1)
    if number is None:
        for word in words[i + 1 : i + 4]:
            if word.strip(".:#-") in _FILLERS:
                continue  # "Nr.", "no", "#"
            found = _NUMBER_WORD.match(word)
            number = found.group(1) if found else None
            break
    if number is None:
        return None
    return _invoice_key("".join(_DIGITS_ONLY.findall(number)))


def _invoice_keys(words: list[str], out: set[str]) -> None:
    for i, word in enumerate(words):
        if word[0] in _KEYWORD_INITIALS:
            key = _invoice_at(words, i)
            if key is not None:
                out.add(key)


def invoice_numbers(text: str) -> list[str]:
    """Invoice numbers (significant digits only) after an invoice keyword in `text`."""
    out: set[str] = set()
    _invoice_keys(text.upper().split(), out)
    return sorted(key[len(INVOICE_KIND) :] for key in out)


def _alnum(upper: str) -> str:
    """Letters and digits only; the usual separators are dropped without a regex."""
    norm = upper.replace("-", "").replace(" ", "")
    return norm if norm.isascii() and norm.isalnum() else _NON_ALNUM.sub("", norm)


def _reference_field_keys(value: str, out: set[str]) -> None:
    upper = value.upper()
    norm = _alnum(upper)
    if norm in PLACEHOLDERS:
        return
    if norm.isdigit():
        # A bare number in a reference field is usually the invoice number itself.
        key = _invoice_key(norm)
        if key is not None:
            out.add(key)
    if len(norm) >= MIN_REFERENCE_LENGTH:
        out.add(REFERENCE_KIND + norm)
        if norm[0] in _KEYWORD_INITIALS:
            _invoice_keys(upper.split(), out)


def creditor_reference_valid(ref: str) -> bool:
    """ISO 11649 check: "RF" + 2 check digits + body, mod 97 of the rotated number is 1."""
    if len(ref) < 5 or len(ref) > 25 or not ref.isalnum():
        return False
    return int((ref[4:] + ref[:4]).translate(_BASE36)) % 97 == 1


def _creditor_reference(word: str, following: list[str]) -> str:
    """The creditor reference starting at `word`, joining the groups it is printed in.

    The longest join that passes the ISO 11649 check wins; without a valid one, groups of
    up to four characters are joined until a word that cannot be a group.
    """
    ref = _NON_ALNUM.sub("", word)
    best = ref if creditor_reference_valid(ref) else ""
    joined = ref
    fallback = ref
    grouping = len(ref) == 4
    for nxt in following:
        if len(nxt) > 4 or not nxt.isalnum() or len(joined) + len(nxt) > 25:
            break
        joined += nxt
        if creditor_reference_valid(joined):
            best = joined
        if grouping and not nxt.isalpha():
            fallback = joined
        else:
            grouping = False
    ref = best or fallback
    return ref if len(ref) >= MIN_REFERENCE_LENGTH else ""


def _text_keys(text: str, out: set[str]) -> None:
    """Keys of free text in one pass over its words (regexes only where a word asks).

    Creditor references and QR references are printed in groups ("RF18 5390 0754 7034",
    "21 00000 00003 13947 14300 09017"), so runs of short groups are joined on the way.
    """
    if not _DIGIT.search(text):
        return  # every kind of key has digits
    words = text.upper().split()
    digit_run = ""  # consecutive all-digit words (a QR reference in groups)
    n = len(words)
    for i, word in enumerate(words):
        if word.isdigit():
            digit_run += word
            if len(digit_run) == QRR_LENGTH and (i + 1 == n or not words[i + 1].isdigit()):
                out.add(REFERENCE_KIND + digit_run)
            continue
        digit_run = ""
        first = word[0]
        if first in _KEYWORD_INITIALS:
            key = _invoice_at(words, i)
            if key is not None:
                out.add(key)
            if first == "R" and word[:2] == "RF" and word[2:4].isdigit():
                ref = _creditor_reference(word, words[i + 1 : i + 6])
                if ref:
                    out.add(REFERENCE_KIND + ref)
        if len(word) <= MIN_REFERENCE_LENGTH or word.isalpha():
            continue
        parts = _SUB_SEPARATORS.split(word) if _SUB_SEPARATORS.search(word) else (word,)
        for part in parts:
            token = _alnum(part)
            if (
                len(token) > MIN_REFERENCE_LENGTH
                and not token.isalpha()
                and not token.isdigit()
                and token not in PLACEHOLDERS
                and not (token[2:4].isdigit() and _IBAN_LIKE.fullmatch(token))
            ):
                out.add(REFERENCE_KIND + token)


def reference_keys(references: Iterable[str], texts: Iterable[str] = ()) -> tuple[str, ...]:
    """Sorted, de-duplicated reference keys of one row (see the module docstring)."""
    out: set[str] = set()
    for value in references:
        if value:
            _reference_field_keys(value, out)
    for text in texts:
        if text:
            _text_keys(text, out)
    if len(out) < 2:
        return tuple(out)
    return tuple(sorted(out))


def shared_key(left: tuple[str, ...], right: tuple[str, ...]) -> str | None:
    """The key two rows share, a full reference before an invoice number; None if none.

    Key tuples are tiny (one to four keys), so a scan beats building sets; among several
    shared keys of one kind the smallest is reported, so the explanation is deterministic.
    """
    if not left or not right:
        return None
    best: str | None = None
    for key in left:
        if key in right and (
            best is None or (key[0] == "R") > (best[0] == "R") or (key[0] == best[0] and key < best)
        ):
            best = key
    return best
