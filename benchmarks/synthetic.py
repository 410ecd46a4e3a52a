"""Deterministic synthetic bank/GL data with a known truth set (pure; for tests and benchmarks).

`generate(n, seed=..., skew=...)` builds about `n` bank entries and the GL entries they
match, with the case mix of DESIGN.md §2 (fractions of bank entries):

| case            | share | construction                                                      |
| --------------- | ----- | ----------------------------------------------------------------- |
| exact 1:1       | 50 %  | same amount, same day                                             |
| shifted 1:1     | 14 %  | same amount, GL booked 1-3 days off                               |
| fee 1:1         | 6 %   | bank = GL - fee (0.50-4.50), always with a reference              |
| batch 1:N       | 4 %   | one bank entry vs 2-5 GL entries; 75 % carry transaction details, |
|                 |       | the rest a payment-run reference the GL parts repeat              |
| split N:1       | 6 %   | 2-3 bank entries (quoting the invoice number) vs one GL invoice   |
| reversal pair   | 4 %   | an entry and its reversal (same reference, or same counterparty)  |
| ambiguous twins | 4 %   | two equal bank payments on one day vs two equal GL entries,      |
|                 |       | nothing to tell them apart: either pairing is right               |
| bank-only noise | 12 %  | no GL counterpart                                                 |
| GL-only noise   | 6 % n | no bank counterpart                                               |

1:1 evidence: 45 % share an end-to-end id, 15 % an RF creditor reference (printed with
spaces on the bank side), 20 % an invoice number written differently on each side
("Invoice 4711203" / "INV-4711203"), 20 % no reference (counterparty IBAN or name only,
and a quarter of those nothing at all but amount and date).

`skew=True` draws 10 % of all 1:1 and noise amounts from :data:`SKEW_AMOUNTS`.

Speed matters (a benchmark builds 1M rows): amounts are integers of cents turned into
`Decimal` once, dates come from a precomputed list, counterparties from a pool, and ids
from the seeded generator (UUID-shaped, so sorting by id shuffles the cases).
"""

from __future__ import annotations

import gc
import math
import random
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from reconciliation.matching.types import DetailRow, EntryRow, MatchSettings

Group = tuple[tuple[str, ...], tuple[str, ...]]  # (sorted source ids, sorted ledger ids)

SKEW_AMOUNTS: Final = (1990, 4990, 10000, 25000, 100000)  # cents
_SKEW_SIGNED: Final = frozenset(SKEW_AMOUNTS) | frozenset(-c for c in SKEW_AMOUNTS)
START: Final = date(2024, 1, 1)
DAYS: Final = 365
CURRENCY: Final = "EUR"

# Settings the generated cases are built for (window 3 days, fees up to 4.50).
SETTINGS: Final = MatchSettings(date_window_days=3, amount_tolerance_abs=Decimal("5.00"))


def _words(text: str) -> list[str]:
    """Words of a word list written as text (easier to read and edit than quoted items)."""
    return text.split()


_FIRST = tuple(
    _words(
        "Kessler Huber Meyer Nordwind Alpen Berg Sonnen Rhein Falken Linden Adler Eichen Stern "
        "Blau Gruen Roth Weiss Fischer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf "
        "Neumann Schwarz Zimmer Braun Krueger Hartmann Lange Werner Krause Lehmann Kaiser Fuchs"
    )
)
_SECOND = tuple(
    _words(
        "Holz Bau Logistik Handel Technik Software Druck Moebel Metall Textil Energie Medien "
        "Reisen Gastro Pharma Optik Elektro Garten Immobilien Consulting Transport Foods Digital "
        "Systems Partners Labs Werke Service Vertrieb Manufaktur"
    )
)
_THIRD = tuple(
    _words(
        "Nord Sued West Ost Rhein Main Elbe Alpen Berlin Hamburg Koeln Bayern Sachsen Hessen "
        "Baden Ruhr Mosel Donau Isar Weser"
    )
)
_SUFFIX = ("GmbH", "AG", "GmbH & Co. KG", "Ltd", "Inc", "SE", "e.K.", "UG")
_MERCHANTS = ("COFFEE", "BAKERY", "FUEL", "PARKING", "TAXI", "KIOSK", "CANTEEN", "PHARMACY")


def _creditor_reference(body: str) -> str:
    """ISO 11649 reference with valid check digits for `body` (digits and letters)."""
    number = int("".join(str(int(c, 36)) for c in body + "RF00"))
    return f"RF{98 - number % 97:02d}{body}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TruthSet:
    source: list[EntryRow]
    ledger: list[EntryRow]
    # Every constructed match (twins with their nominal pairing): a set-like view of
    # `kinds`, so the million groups of a big set are stored once.
    truth: AbstractSet[Group]
    twins: tuple[tuple[frozenset[str], frozenset[str]], ...]  # ambiguous by construction
    kinds: dict[Group, str]  # truth group -> case name, for per-case recall
    settings: MatchSettings = SETTINGS


class _Builder:
    def __init__(self, seed: int, skew: bool, n: int, with_truth: bool) -> None:
        self.with_truth = with_truth
        # Seeded on purpose: the same seed gives the same data (not for security).
        self.rng = random.Random(seed)  # noqa: S311
        self.skew = skew
        self.dates = [START + timedelta(days=d) for d in range(DAYS + 40)]
        self.source: list[EntryRow] = []
        self.ledger: list[EntryRow] = []
        self.truth: dict[Group, str] = {}
        self.twin_sets: list[tuple[frozenset[str], frozenset[str]]] = []
        self.decimals: dict[int, Decimal] = {}
        size = max(200, n // 20)
        rng = self.rng
        # (bank name, GL name, IBAN, bank text, GL text): texts are shared by the rows of
        # a party, which keeps a million-row set small in memory.
        self.parties: list[tuple[str, str, str, str, str]] = []
        for _ in range(size):
            # 22,800 distinct names; bigger pools repeat names (with other IBANs), as
            # real ledgers do.
            base = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {rng.choice(_THIRD)}"
            suffix = rng.choice(_SUFFIX)
            gl_name = base if rng.random() < 0.5 else f"{base} {suffix}".upper()
            iban = f"DE{rng.randrange(10, 99)}{rng.randrange(10**17, 10**18)}00"
            name = f"{base} {suffix}"
            self.parties.append((name, gl_name, iban, f"SEPA {name}", f"{gl_name} payment"))
        self.serial = rng.randrange(10**6)

    # -------------------------------------------------------------------- small helpers

    def uid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def money(self, cents: int) -> Decimal:
        # Only the few skewed amounts are shared: a cache of every amount would cost more
        # memory than the Decimals it saves (a case shares its own amounts directly).
        found = self.decimals.get(cents)
        if found is None:
            found = Decimal(cents).scaleb(-2)
            if cents in _SKEW_SIGNED:
                self.decimals[cents] = found
        return found

    def cents(self, *, low: float = 2.7, high: float = 6.5, skewable: bool = True) -> int:
        rng = self.rng
        if skewable and self.skew and rng.random() < 0.10:
            return rng.choice(SKEW_AMOUNTS)
        return int(math.exp(rng.uniform(low, high) * math.log(10)))

    def sign(self) -> int:
        return -1 if self.rng.random() < 0.6 else 1

    def day(self) -> int:
        return self.rng.randrange(DAYS)

    def next_serial(self) -> int:
        self.serial += self.rng.randrange(1, 50)
        return self.serial

    def bank(self, **kw: object) -> EntryRow:
        row = EntryRow(id=self.uid(), currency=CURRENCY, **kw)  # type: ignore[arg-type]
        self.source.append(row)
        return row

    def gl(self, **kw: object) -> EntryRow:
        row = EntryRow(id=self.uid(), currency=CURRENCY, **kw)  # type: ignore[arg-type]
        self.ledger.append(row)
        return row

    def record(self, src: list[EntryRow], led: list[EntryRow], kind: str) -> None:
        if not self.with_truth:
            return
        group = (tuple(sorted(r.id for r in src)), tuple(sorted(r.id for r in led)))
        self.truth[group] = kind

    # ---------------------------------------------------------------------------- cases

    def one_to_one(self, kind: str) -> None:
        rng = self.rng
        cents = self.cents()
        sign = self.sign()
        day = self.day()
        gl_day = day
        if kind == "shifted":
            gl_day = day + rng.choice((-3, -2, -1, 1, 2, 3))
            gl_day = max(0, gl_day)
        bank_cents = cents
        if kind == "fee":
            cents = max(cents, 1000)
            bank_cents = cents - rng.randrange(50, 451)  # bank = GL - fee, both signs
            bank_amount = self.money(sign * cents - (cents - bank_cents))
        else:
            bank_amount = self.money(sign * cents)
        name, gl_name, iban, bank_text, gl_text = rng.choice(self.parties)
        roll = rng.random()
        if kind == "fee" and roll >= 0.8:
            roll = rng.random() * 0.8  # fees always carry a reference
        bank_refs: tuple[str, ...] = ()
        gl_refs: tuple[str, ...] = ()
        gl_party = gl_name if rng.random() < 0.7 else ""
        gl_iban = iban if rng.random() < 0.3 else ""
        if roll < 0.45:
            ref = f"E2E-{rng.getrandbits(48):012X}"
            bank_refs = (ref,)
            gl_refs = (ref,)
        elif roll < 0.60:
            body = f"{rng.getrandbits(40):012d}"[:12]
            ref = _creditor_reference(body)
            spaced = " ".join(ref[i : i + 4] for i in range(0, len(ref), 4))
            bank_text = f"{bank_text} {spaced}"
            gl_refs = (ref,)
        elif roll < 0.80:
            number = self.next_serial()
            bank_text = f"{bank_text} {rng.choice(('Invoice', 'Rechnung Nr.', 'INV'))} {number}"
            gl_refs = (f"INV-{number}",)
        elif roll < 0.95:
            gl_party = gl_name
            gl_iban = iban if rng.random() < 0.5 else ""
        else:
            # Nothing but amount and date: never with a skewed amount (it could not be
            # told apart from the crowd) and never with a fee (it would score below 50).
            if self.skew and cents in SKEW_AMOUNTS:
                cents = bank_cents = self.cents(skewable=False)
                bank_amount = self.money(sign * cents)
            gl_party = ""
            gl_iban = ""
            bank_text = "SEPA TRANSFER"
            gl_text = "transfer"
            name = ""
            iban = ""
        value = self.dates[day + 1] if rng.random() < 0.2 else None
        b = self.bank(
            amount=bank_amount,
            booking_date=self.dates[day],
            value_date=value,
            references=bank_refs,
            counterparty_name=name,
            counterparty_iban=iban,
            description=bank_text,
        )
        g = self.gl(
            amount=bank_amount if bank_cents == cents else self.money(sign * cents),
            booking_date=self.dates[gl_day],
            references=gl_refs,
            counterparty_name=gl_party,
            counterparty_iban=gl_iban,
            description=gl_text,
        )
        self.record([b], [g], kind)

    def batch(self) -> None:
        rng = self.rng
        sign = self.sign()
        day = self.day()
        parts = [self.cents(low=3.7, high=5.5, skewable=False) for _ in range(rng.randrange(2, 6))]
        total = sum(parts)
        with_details = rng.random() < 0.75
        run_ref = f"PAYRUN-{self.next_serial()}"
        gls: list[EntryRow] = []
        details: list[DetailRow] = []
        for cents in parts:
            name, gl_name, iban, _, _ = rng.choice(self.parties)
            number = self.next_serial()
            gl_day = day + rng.choice((0, 0, 0, 1, -1)) if day > 0 else day
            gls.append(
                self.gl(
                    amount=self.money(sign * cents),
                    booking_date=self.dates[gl_day],
                    references=(f"INV-{number}",) if with_details else (run_ref,),
                    counterparty_name=gl_name,
                    description=f"{gl_name} invoice {number}",
                )
            )
            details.append(
                DetailRow(
                    amount=self.money(cents),  # camt detail amounts carry no sign
                    references=(f"E2E-{rng.getrandbits(40):010X}",),
                    counterparty_name=name,
                    counterparty_iban=iban,
                    remittance=f"Invoice {number}",
                )
            )
        b = self.bank(
            amount=self.money(sign * total),
            booking_date=self.dates[day],
            references=(run_ref,) if not with_details else (),
            description="SEPA BATCH PAYMENT" if with_details else f"SAMMLER {run_ref}",
            details=tuple(details) if with_details else (),
        )
        self.record([b], gls, "batch" if with_details else "batch_no_details")

    def split(self) -> None:
        rng = self.rng
        sign = self.sign()
        day = self.day() + 3
        k = rng.randrange(2, 4)
        parts = [self.cents(low=3.7, high=5.0, skewable=False) for _ in range(k)]
        number = self.next_serial()
        name, gl_name, iban, _, _ = rng.choice(self.parties)
        g = self.gl(
            amount=self.money(sign * sum(parts)),
            booking_date=self.dates[day],
            references=(f"INV-{number}",),
            counterparty_name=gl_name,
            description=f"Invoice {number} {gl_name}",
        )
        banks = [
            self.bank(
                amount=self.money(sign * cents),
                booking_date=self.dates[day + rng.randrange(-3, 4)],
                counterparty_name=name,
                counterparty_iban=iban,
                description=f"{name} Rechnung {number} Teil {i + 1}/{k}",
            )
            for i, cents in enumerate(parts)
        ]
        self.record(banks, [g], "split")

    def reversal(self) -> None:
        rng = self.rng
        cents = self.cents(skewable=False)
        sign = self.sign()
        day = self.day()
        name, _, iban, bank_text, _ = rng.choice(self.parties)
        if rng.random() < 0.8:
            ref = f"E2E-{rng.getrandbits(48):012X}"
            refs: tuple[str, ...] = (ref,)
            later = rng.randrange(1, 15)
        else:
            refs = ()
            later = rng.randrange(0, 4)
        original = self.bank(
            amount=self.money(sign * cents),
            booking_date=self.dates[day],
            references=refs,
            counterparty_name=name,
            counterparty_iban=iban,
            description=bank_text,
        )
        reverse = self.bank(
            amount=self.money(-sign * cents),
            booking_date=self.dates[day + later],
            references=refs,
            counterparty_name=name,
            counterparty_iban=iban,
            description=f"RETURN SEPA {name}",
            is_reversal=True,
        )
        self.record([original, reverse], [], "reversal")

    def twins(self) -> None:
        rng = self.rng
        cents = self.cents(skewable=False)
        day = self.day()
        merchant = rng.choice(_MERCHANTS)
        banks = [
            self.bank(
                amount=self.money(-cents),
                booking_date=self.dates[day],
                counterparty_name=merchant,
                description=f"CARD PAYMENT {merchant}",
            )
            for _ in range(2)
        ]
        gls = [
            self.gl(
                amount=self.money(-cents),
                booking_date=self.dates[day],
                counterparty_name=merchant,
                description=f"{merchant.lower()} expense",
            )
            for _ in range(2)
        ]
        for b, g in zip(banks, gls, strict=True):
            self.record([b], [g], "twin")
        self.twin_sets.append((frozenset(b.id for b in banks), frozenset(g.id for g in gls)))

    def noise(self, *, bank: bool) -> None:
        rng = self.rng
        name, gl_name, iban, bank_text, _ = rng.choice(self.parties)
        kw = {
            "amount": self.money(self.sign() * self.cents()),
            "booking_date": self.dates[self.day()],
            "references": (f"NOISE-{rng.getrandbits(48):012X}",),
        }
        if bank:
            self.bank(counterparty_name=name, counterparty_iban=iban, description=bank_text, **kw)
        else:
            self.gl(counterparty_name=gl_name, description=f"{gl_name} accrual", **kw)


# Cumulative shares of bank entries per case (the table in the module docstring). A case
# that creates k bank entries is drawn with probability share / k.
_CASES: Final = (
    ("exact", 0.50, 1),
    ("shifted", 0.14, 1),
    ("fee", 0.06, 1),
    ("batch", 0.04, 1),
    ("split", 0.06, 2.5),
    ("reversal", 0.04, 2),
    ("twins", 0.04, 2),
    ("bank_noise", 0.12, 1),
)


def generate(n: int, *, seed: int = 0, skew: bool = False, with_truth: bool = True) -> TruthSet:
    """About `n` bank entries, their GL counterparts, noise, and the truth set.

    `with_truth=False` skips the truth set (a benchmark that only needs rows saves the
    memory of a million groups); the rows are the same either way.
    """
    # Millions of new objects and no garbage: pause the cyclic collector meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(n, seed, skew, with_truth)
    finally:
        if collecting:
            gc.enable()


def _generate(n: int, seed: int, skew: bool, with_truth: bool) -> TruthSet:
    builder = _Builder(seed, skew, n, with_truth)
    weights = [share / per for _, share, per in _CASES]
    total = sum(weights)
    cumulative: list[float] = []
    acc = 0.0
    for w in weights:
        acc += w / total
        cumulative.append(acc)
    names = [name for name, _, _ in _CASES]
    rng = builder.rng
    gl_noise = int(n * 0.06)
    while len(builder.source) < n:
        roll = rng.random()
        case = names[-1]
        for name, edge in zip(names, cumulative, strict=True):
            if roll < edge:
                case = name
                break
        if case in ("exact", "shifted", "fee"):
            builder.one_to_one(case)
        elif case == "batch":
            builder.batch()
        elif case == "split":
            builder.split()
        elif case == "reversal":
            builder.reversal()
        elif case == "twins":
            builder.twins()
        else:
            builder.noise(bank=True)
    for _ in range(gl_noise):
        builder.noise(bank=False)
    return TruthSet(
        source=builder.source,
        ledger=builder.ledger,
        truth=builder.truth.keys(),
        twins=tuple(builder.twin_sets),
        kinds=builder.truth,
    )
