"""Where the table starts and which column is what: delimiter, header row, column roles.

Header names are compared after `normalise()` (case folded, accents and punctuation gone,
camelCase split), against per-field alias lists ordered by preference. Aliases that mean
different things at different banks (`Valuta`: value date in German, currency in Dutch;
`Type`: CR/DR at one bank, a booking type at another) are settled by the column's content.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from ledgers.money import MINOR_UNITS
from reconciliation.parsers.csv_dates import looks_like_date
from reconciliation.parsers.csv_numbers import AmountTextError, split_amount
from reconciliation.parsers.types import CsvMapping, ParseError

MAX_COLUMNS: Final = 1000
DELIMITERS: Final = (",", ";", "\t", "|")
HEADER_SEARCH_ROWS: Final = 40

_CAMEL: Final = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NON_WORD: Final = re.compile(r"[\W_]+")
_NUMBERED: Final = re.compile(r"(.*?)\s*(\d{1,2})")


def normalise(text: str) -> str:
    """`Auftraggeber/Empfänger` → `auftraggeber empfanger`, `RunningBalance` → `running balance`."""
    split = _CAMEL.sub(" ", text[:200])
    decomposed = unicodedata.normalize("NFKD", split.casefold())
    folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub(" ", folded).strip()


def _aliases(names: str) -> tuple[str, ...]:
    """`"a|b|c"` → the normalised names, in order."""
    return tuple(normalise(name) for name in names.split("|"))


# Per field, best first. A column matches an alias exactly (after normalise), or after
# dropping a currency code (`Betrag (EUR)`, `Umsatz in EUR`).
ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "booking_date": _aliases(
        "booking date|Buchungstag|Buchungsdatum|posting date|posted date|date posted|"
        "transaction date|trans date|date|Datum|date processed|completed date|date completed|"
        "date opération|date d'opération|date de l'opération|date comptable|"
        "date de comptabilisation|Boekdatum|Transactiedatum|Дата операции|Дата проводки|Дата|"
        "fecha|data|Belegdatum|Data księgowania|Data operacji|Datum zaúčtování"
    ),
    "value_date": _aliases(
        "value date|Valuta|Valutadatum|Valuta Datum|Wertstellung|Wertstellungsdatum|"
        "Wertstellung (Valuta)|date de valeur|date valeur|Rentedatum|Дата валютирования|"
        "Дата платежа"
    ),
    # T-Bank: "Сумма платежа" is in the account's currency, "Сумма операции" in the card
    # operation's (a USD purchase on a RUB card), so the former is preferred.
    "amount": _aliases(
        "amount|Betrag|Umsatz|Bedrag|montant|importe|transaction amount|Brutto|gross|"
        "Сумма платежа|Сумма операции|Сумма|Kwota|Částka"
    ),
    "debit": _aliases(
        "debit|debit amount|withdrawal|withdrawals|withdrawal amount|money out|paid out|out|"
        "Soll|Ausgang|Belastung|Af|Debet|montant débit|Дебет|Расход|Списание"
    ),
    "credit": _aliases(
        "credit|credit amount|deposit|deposits|deposit amount|money in|paid in|in|Haben|"
        "Eingang|Gutschrift|Bij|montant crédit|Кредит|Приход|Зачисление|Поступление"
    ),
    "direction": _aliases(
        "debit/credit|credit/debit|cr/dr|dr/cr|d/c|c/d|Soll/Haben|S/H|direction|Af Bij|Bij Af|"
        "indicator|debit credit indicator|sign|Vorzeichen|sens|transaction type|type|"
        "Направление"
    ),
    "currency": _aliases(
        "currency|currency code|ccy|curr|Währung|Waehrung|Munt|devise|monnaie|Monn.|moneda|"
        "Valuta|Валюта платежа|Валюта операции|Валюта"
    ),
    "balance": _aliases(
        "balance|running balance|balance after|Saldo|Saldo na trn|Saldo na transactie|"
        "Saldo nach Buchung|Kontostand|solde|Guthaben|Остаток|Баланс"
    ),
    "status": _aliases("status|state|statut|Buchungsstatus|Статус"),
    "description": _aliases(
        "description|Verwendungszweck|purpose|memo|Omschrijving|Mededelingen|libellé|"
        "transaction details|narrative|particulars|remittance information|Beschreibung|"
        "Описание|Назначение платежа|text|Buchungstext|original description|VWZ|Opis|Tytuł|"
        "Popis"
    ),
    "counterparty_name": _aliases(
        "counterparty|counterparty name|payee|payee name|merchant|merchant name|beneficiary|"
        "payer|payer name|Empfänger|Zahlungsempfänger|Auftraggeber/Empfänger|"
        "Empfänger/Auftraggeber|Begünstigter/Zahlungspflichtiger|"
        "Beguenstigter/Zahlungspflichtiger|Name Zahlungsbeteiligter|Auftraggeber|"
        "Zahlungspflichtiger|Naam tegenpartij|Naam / Omschrijving|Tegenpartij|bénéficiaire|"
        "tiers|Контрагент|Получатель|Плательщик|name|Naam|Naam uiteindelijke partij|"
        "Naam initiërende partij"
    ),
    "counterparty_iban": _aliases(
        "counterparty iban|iban|Tegenrekening IBAN/BBAN|Tegenrekening|IBAN tegenpartij|"
        "Gegenkonto|IBAN Zahlungsbeteiligter|Kontonummer/IBAN|IBAN Auftraggeber|"
        "IBAN Empfänger|payee account number|IBAN du tiers|Счет контрагента"
    ),
    "account": _aliases(
        "IBAN/BBAN|Auftragskonto|Kontonummer|account|account number|account iban|Konto|"
        "produit|Rekening|Rekeningnummer|compte|own account|account name|Номер счета"
    ),
    "bank_reference": _aliases(
        "transaction id|TransferWise ID|transaction reference|id|reference number|"
        "bank reference|Transaktionscode|Transaktions-ID|Volgnr|N° de transaction|"
        "no de transaction|numéro de transaction|Buchungsreferenz|Referenznummer|"
        "Номер операции|receipt id|fitid"
    ),
    "reference": _aliases(
        "payment reference|reference|Referenz|Kundenreferenz|customer reference|"
        "Betalingskenmerk|Kenmerk|check number|check or slip #|cheque number|"
        "référence de paiement"
    ),
    "end_to_end_id": _aliases(
        "end to end id|end-to-end reference|EndToEndId|Transactiereferentie|EREF|"
        "End-to-End-Referenz"
    ),
    "bank_transaction_code": _aliases(
        "type|transaction details type|Buchungstext|Vorgang|code|transaction code|"
        "booking text|Umsatzart|Buchungsart|type de transaction|transaction type"
    ),
}
# Date headers of banks in countries that write the day first (German, French, Dutch,
# Russian names): they settle a column whose every date reads both ways.
DAY_FIRST_HEADERS: Final = frozenset(
    _aliases(
        "Buchungstag|Buchungsdatum|Datum|Valuta|Valutadatum|Wertstellung|date d'opération|"
        "date de l'opération|date comptable|date de valeur|Boekdatum|Transactiedatum|"
        "Rentedatum|Дата операции|Дата проводки|Дата|Дата платежа"
    )
)
# Assigned in this order, each column to one field: earlier fields win shared aliases.
FIELD_ORDER: Final = (
    "booking_date", "value_date", "amount", "debit", "credit", "direction", "currency",
    "balance", "status", "description", "counterparty_name", "counterparty_iban", "account",
    "bank_reference", "reference", "end_to_end_id", "bank_transaction_code",
)  # fmt: skip
MULTI_FIELDS: Final = frozenset({"description", "counterparty_name", "counterparty_iban"})
_RANKS: Final = {
    name: {alias: rank for rank, alias in reversed(list(enumerate(aliases)))}
    for name, aliases in ALIASES.items()
}
_ALL_ALIASES: Final = frozenset(alias for aliases in ALIASES.values() for alias in aliases)
# Currency codes dropped from a header anywhere (`EUR Betrag`, `Betrag (EUR)`)...
_CURRENCY_WORDS: Final = frozenset(
    _aliases("eur|usd|chf|gbp|rub|jpy|sek|nok|dkk|pln|czk|huf|cad|aud|nzd|try|uah")
)
# ...and any ISO 4217 code as the header's last word (`Withdrawals (SGD)`, `Umsatz in HKD`):
# only there, since "all" or "top" are codes too.
_ISO_WORDS: Final = frozenset(code.lower() for code in MINOR_UNITS)

# Direction markers (normalised), by the sign they give.
CREDIT_MARKERS: Final = frozenset(
    _aliases(
        "cr|c|credit|crédit|h|haben|bij|in|gutschrift|deposit|кредит|приход|зачисление|"
        "incoming|eingang"
    )
)
DEBIT_MARKERS: Final = frozenset(
    _aliases(
        "dr|d|debit|débit|s|soll|af|out|lastschrift|withdrawal|дебет|расход|списание|"
        "outgoing|ausgang"
    )
)
PENDING_WORDS: Final = frozenset(
    _aliases(
        "pending|vorgemerkt|in bearbeitung|offen|en attente|en cours|in behandeling|"
        "в обработке|authorised|authorized|not booked|nicht gebucht|processing"
    )
)
SKIPPED_STATUS: Final = PENDING_WORDS | frozenset(
    _aliases(
        "failed|declined|cancelled|canceled|rejected|void|abgelehnt|storniert|geweigerd|"
        "mislukt|refusé|annulé|отклонена|отменена|неуспешно|error"
    )
)
SUMMARY_WORDS: Final = _aliases(
    "total|totals|sum|summe|gesamt|saldo|balance|kontostand|solde|totaal|somme|sous total|"
    "итого|всего|остаток|opening|closing|anfangssaldo|endsaldo|schlusssaldo|eindsaldo|"
    "beginsaldo|startsaldo|alter kontostand|neuer kontostand|ending balance|"
    "beginning balance|new balance|previous balance|nombre|anzahl|count|number of"
)
OPENING_LABELS: Final = _aliases(
    "opening balance|Anfangssaldo|alter Kontostand|alter Saldo|Saldo alt|Startsaldo|"
    "Beginsaldo|begin saldo|solde initial|solde de début|solde d'ouverture|ancien solde|"
    "beginning balance|starting balance|previous balance|Входящий остаток|Остаток на начало"
)
CLOSING_LABELS: Final = _aliases(
    "closing balance|Endsaldo|neuer Kontostand|neuer Saldo|Saldo neu|Schlusssaldo|Eindsaldo|"
    "solde final|solde de fin|nouveau solde|ending balance|new balance|Исходящий остаток|"
    "Остаток на конец|Kontostand"
)
ACCOUNT_LABELS: Final = frozenset(
    _aliases("iban|konto|kontonummer|account|account number|rekening|compte|счет")
)


def _match_rank(field_name: str, norm: str) -> int | None:
    ranks = _RANKS[field_name]
    rank = ranks.get(norm)
    if rank is None and norm:
        words = [w for w in norm.split() if w not in _CURRENCY_WORDS]
        if len(words) > 1 and words[-1] in _ISO_WORDS:
            words.pop()
        if words and words[-1] == "in" and len(words) > 1:
            words.pop()
        rank = ranks.get(" ".join(words))
    return rank


def header_currency(columns: Columns) -> str | None:
    """The ISO code the money columns' headers name (`Withdrawals (SGD)`), when they all
    name the same one; the rows are in that currency unless a currency column says."""
    found = set()
    for key in ("amount", "debit", "credit"):
        idx = columns.single.get(key)
        if idx is None or idx >= len(columns.names):
            continue
        codes = [w.upper() for w in normalise(columns.names[idx]).split() if w in _ISO_WORDS]
        if codes:
            found.add(codes[-1])
    return found.pop() if len(found) == 1 else None


def is_known_header(norm: str) -> bool:
    if norm in _ALL_ALIASES:
        return True
    numbered = _NUMBERED.fullmatch(norm)
    return numbered is not None and numbered[1] in _RANKS["description"]


def marker_sign(text: str) -> int | None:
    """+1 for a credit marker, -1 for a debit marker, None otherwise."""
    stripped = text.strip()
    if stripped in ("+", "-"):
        return 1 if stripped == "+" else -1
    folded = normalise(stripped)
    if folded in CREDIT_MARKERS:
        return 1
    if folded in DEBIT_MARKERS:
        return -1
    return None


def starts_with_any(norm: str, labels: Iterable[str]) -> bool:
    return any(norm == label or norm.startswith(label + " ") for label in labels)


def snippet_list(cells: Sequence[str], limit: int = 12) -> str:
    """A short, safe rendering of cells for an error message."""
    shown = [repr(cell[:30]) for cell in cells[:limit]]
    more = f", … ({len(cells)} in all)" if len(cells) > limit else ""
    return ", ".join(shown) + more


# --- delimiter ---------------------------------------------------------------------------


def sniff_delimiter(lines: Sequence[str], names: Sequence[str] = ()) -> str:
    """The separator under which the sample has a header (the mapping's column names, or
    known header names), then the most rows of one consistent width."""
    best: tuple[int, int, int, int] = (0, 0, 0, 0)
    chosen = ","
    for delimiter in DELIMITERS:
        try:
            rows = [row for row in csv.reader(lines, delimiter=delimiter) if row]
        except csv.Error:
            continue
        counts = Counter(len(row) for row in rows if len(row) > 1)
        if not counts:
            continue
        width, consistent = max(counts.items(), key=lambda item: (item[1], item[0]))
        top = [row for row in rows[:HEADER_SEARCH_ROWS] if len(row) <= MAX_COLUMNS]
        named = int(bool(names) and any(header_has_names(row, names) for row in top))
        header = max((header_score(row) or 0 for row in top), default=0)
        key = (named, header, consistent, width)
        if key > best:
            best = key
            chosen = delimiter
    return chosen


# --- columns -----------------------------------------------------------------------------


@dataclass(slots=True)
class Columns:
    """Column index per field (0-based); the multi fields keep every column, best first."""

    names: list[str]
    single: dict[str, int] = field(default_factory=dict)
    multi: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def get(self, name: str) -> int | None:
        return self.single.get(name)

    def describe(self) -> dict[str, str | tuple[str, ...]]:
        """Field → header name(s), for messages and tests."""
        out: dict[str, str | tuple[str, ...]] = {
            key: self._name(idx) for key, idx in self.single.items()
        }
        for key, idxs in self.multi.items():
            out[key] = tuple(self._name(idx) for idx in idxs)
        return out

    def _name(self, idx: int) -> str:
        return self.names[idx] if idx < len(self.names) and self.names[idx] else f"#{idx}"


def _values(rows: Sequence[Sequence[str]], idx: int) -> list[str]:
    return [row[idx].strip() for row in rows if idx < len(row) and row[idx].strip()]


def _mostly(values: list[str], test: Callable[[str], bool]) -> bool:
    """At least half pass (footers sampled with the data fail); true for no values."""
    good = sum(1 for value in values if test(value))
    return good * 2 >= len(values)


def _is_amount(value: str) -> bool:
    try:
        return split_amount(value) is not None
    except AmountTextError:
        return False


def _content_fits(field_name: str, values: list[str]) -> bool:
    """Does a sampled column's content fit the field its header suggests?"""
    if field_name in ("booking_date", "value_date"):
        dated = [v for v in values if normalise(v) not in PENDING_WORDS]
        return _mostly(dated, looks_like_date)
    if field_name in ("amount", "balance"):
        return not values or _mostly(values, _is_amount)
    if field_name in ("debit", "credit"):
        return not values or _mostly(values, _is_amount)
    if field_name == "currency":
        return all(len(v) == 3 and v.isalpha() for v in values)
    if field_name == "direction":
        return bool(values) and all(marker_sign(v) is not None for v in values)
    return True


def _resolve_reference(ref: str, names: list[str], norms: list[str], width: int) -> int:
    """A mapping's column reference (header name or 0-based index) as an index."""
    text = ref.strip()
    if text.isdigit():
        idx = int(text)
        if idx < width:
            return idx
        raise ParseError(
            f"mapping refers to column {idx}, but the file has {width} columns",
            code="mapping_invalid",
        )
    folded = text.casefold()
    for idx, name in enumerate(names):
        if name.strip().casefold() == folded:
            return idx
    norm = normalise(text)
    if norm:
        for idx, candidate in enumerate(norms):
            if candidate == norm:
                return idx
    raise ParseError(
        f"mapping names column {text[:40]!r}, which is not in the header ({snippet_list(names)})",
        code="mapping_invalid",
    )


def mapping_references(mapping: CsvMapping) -> dict[str, str | tuple[str, ...]]:
    """The column references a mapping sets, by field."""
    refs: dict[str, str | tuple[str, ...]] = {}
    for name in FIELD_ORDER:
        value = getattr(mapping, name, None)
        if value:
            refs[name] = value
    return refs


def header_has_names(row: Sequence[str], names: Iterable[str]) -> bool:
    norms = {normalise(cell) for cell in row} | {cell.strip().casefold() for cell in row}
    return all(normalise(name) in norms or name.strip().casefold() in norms for name in names)


def header_score(row: Sequence[str]) -> int | None:
    """How header-like a row is: known names counted; None without a date and an amount."""
    norms = [normalise(cell) for cell in row]
    score = sum(1 for norm in norms if is_known_header(norm))
    dated = any(
        _match_rank(name, norm) is not None
        for norm in norms
        for name in ("booking_date", "value_date")
    )
    money = any(
        _match_rank(name, norm) is not None
        for norm in norms
        for name in ("amount", "debit", "credit")
    )
    return score if dated and money else None


def find_header(rows: Sequence[Sequence[str]]) -> int | None:
    """Index of the most header-like row among the first rows, or None."""
    best: tuple[int, int] | None = None
    for idx, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        score = header_score(row)
        if score is not None and (best is None or score > best[0]):
            best = (score, idx)
    return None if best is None else best[1]


def assign_columns(
    names: list[str],
    width: int,
    sample: Sequence[Sequence[str]],
    mapping: CsvMapping | None,
) -> Columns:
    """Decide each field's column(s) from the mapping, then from header names and content."""
    padded = names + [""] * (width - len(names))
    norms = [normalise(name) for name in padded]
    columns = Columns(names=padded)
    claimed: set[int] = set()
    refs = mapping_references(mapping) if mapping else {}
    money_mapped = any(key in refs for key in ("amount", "debit", "credit"))

    for key, ref in refs.items():
        if isinstance(ref, tuple):
            idxs = tuple(_resolve_reference(r, padded, norms, width) for r in ref)
            columns.multi[key] = idxs
            claimed.update(idxs)
        else:
            idx = _resolve_reference(ref, padded, norms, width)
            if key in MULTI_FIELDS:
                columns.multi[key] = (idx,)
            else:
                columns.single[key] = idx
            claimed.add(idx)

    for key in FIELD_ORDER:
        if key in refs:
            continue
        if money_mapped and key in ("amount", "debit", "credit", "direction"):
            continue
        if key == "direction" and "amount" not in columns.single:
            continue  # a sign column only means something beside a single amount column
        if key == "description":
            group = _description_group(norms, claimed)
            if group:
                columns.multi[key] = group
                claimed.update(group)
                continue
        ranked = sorted(
            (rank, idx)
            for idx, norm in enumerate(norms)
            if idx not in claimed and (rank := _match_rank(key, norm)) is not None
        )
        fitting = [idx for _, idx in ranked if _content_fits(key, _values(sample, idx))]
        if not fitting:
            continue
        if key in MULTI_FIELDS:
            chosen = tuple(fitting) if key != "description" else (fitting[0],)
            columns.multi[key] = chosen
            claimed.update(chosen)
        else:
            columns.single[key] = fitting[0]
            claimed.add(fitting[0])

    _unnamed_direction(columns, norms, claimed, sample, money_mapped)
    if "booking_date" not in columns.single and "value_date" in columns.single:
        columns.single["booking_date"] = columns.single["value_date"]
    return columns


def _description_group(norms: list[str], claimed: set[int]) -> tuple[int, ...]:
    """Numbered purpose columns (`VWZ1`..`VWZ14`, `Description 1`..`3`) in number order."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for idx, norm in enumerate(norms):
        numbered = _NUMBERED.fullmatch(norm)
        if idx in claimed or numbered is None or not numbered[1]:
            continue
        if numbered[1] in _RANKS["description"]:
            groups.setdefault(numbered[1], []).append((int(numbered[2]), idx))
    if not groups:
        return ()
    base = min(groups, key=lambda name: _RANKS["description"][name])
    return tuple(idx for _, idx in sorted(groups[base]))


def _unnamed_direction(
    columns: Columns,
    norms: list[str],
    claimed: set[int],
    sample: Sequence[Sequence[str]],
    money_mapped: bool,
) -> None:
    """A nameless column holding only CR/DR-like markers beside one amount column (M&S)."""
    if money_mapped or "direction" in columns.single or "amount" not in columns.single:
        return
    for idx, norm in enumerate(norms):
        if norm or idx in claimed:
            continue
        values = _values(sample, idx)
        if values and all(marker_sign(v) is not None for v in values):
            columns.single["direction"] = idx
            claimed.add(idx)
            return
