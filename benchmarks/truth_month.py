"""A month of bank bookings and GL entries with a known truth set, written as a camt.053
file and as a German bank CSV export of the same month (pure; no Django).

`generate_month(cases, collisions=..., seed=...)` builds one business account's March 2024:
bank bookings (`BankLine`) on business days only, the GL entries a bookkeeper would have
(`GlLine`), and the truth (`TruthUnit`: which bank lines belong with which GL lines).
`render_camt053()` and `render_csv()` write the same month as a bank would deliver it, so
a test can send it through the real parsers, the import, auto-match and the discrepancy
checks, and measure the result against the truth.

Case kinds (share of cases):

| kind              | share | construction                                                    |
| ----------------- | ----- | --------------------------------------------------------------- |
| exact             | 38 %  | same amount; GL booked the same day as the bank                 |
| shifted           | 12 %  | same amount; GL booked 1-3 business days before the bank         |
| fee               | 6 %   | bank = GL - fee (0.50-4.50, at most 2 % of the amount), always  |
|                   |       | with a reference; camt adds Chrgs and AmtDtls/InstdAmt (= GL)   |
| fee_tolerance     | 2 %   | (only with `tolerance`) like fee but the counterparty is the    |
|                   |       | only evidence: matchable only by the ledger's own tolerance     |
| weekend_split     | 6 %   | 2-3 instalments ("Teilzahlung 2/3 RE 4711203") of one GL        |
|                   |       | invoice; payments made on a weekend are booked on Monday, and   |
|                   |       | some come a week later                                          |
| batch             | 3 %   | a payment run: camt has Btch/NbOfTxs and one TxDtls per payment;|
|                   |       | the CSV row says only "SAMMLER 4 POSTEN PMTINF-..." and the     |
|                   |       | total; the GL parts quote the payment-run id                    |
| batch_busy        | 3 %   | the same, but the GL parts do not quote the payment-run id: on  |
|                   |       | CSV only the count, the total and the run's posting day tie them |
| reversal          | 4 %   | a direct debit and its return (camt RvslInd; CSV                |
|                   |       | "RUECKLASTSCHRIFT ... EREF: ..."), no GL entry                  |
| twins             | 3 %   | two equal card payments on one day, two equal GL entries:        |
|                   |       | either pairing is right, and both must stay suggestions          |
| bank_noise        | 8 %   | fees, interest, unknown credits: no GL counterpart               |
| gl_noise          | 5 %   | GL entries without a bank booking, some on the month's last      |
|                   |       | (weekend) days that only the statement period covers            |

Every 1:1 case carries the evidence a real payment has: an end-to-end id (outgoing
payments, which the ERP generated), an RF creditor reference printed in groups, an invoice
number written differently on each side, or the counterparty only (then unique by amount
within the month); a few carry nothing but amount and date.

`collisions` (0.0-1.0) is the share of cases whose amount is drawn from a dozen common
amounts and whose bank day from three common days: at 1.0 every amount repeats dozens of
times and only the evidence tells the cases apart. Cases that have no evidence to tell
them apart, the parts of a `batch_busy` payment run and the noise keep their own amounts
(a person could not match them either if they collided).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Final
from xml.sax.saxutils import escape

PERIOD_FROM: Final = date(2024, 3, 1)
PERIOD_TO: Final = date(2024, 3, 31)
CURRENCY: Final = "EUR"
ACCOUNT_NAME: Final = "Muster Handels GmbH"
OPENING_CENTS: Final = 1_234_567
COMMON_CENTS: Final = (
    4_990, 9_900, 10_000, 19_900, 25_000, 49_900, 50_000, 99_000, 100_000, 119_000, 250_000,
    500_000,
)  # fmt: skip
CASE_SHARES: Final = (
    ("exact", 0.38),
    ("shifted", 0.12),
    ("fee", 0.06),
    ("fee_tolerance", 0.02),
    ("weekend_split", 0.06),
    ("batch", 0.03),
    ("batch_busy", 0.03),
    ("reversal", 0.04),
    ("twins", 0.03),
    ("bank_noise", 0.08),
    ("gl_noise", 0.05),
)
FEE_TOLERANCE: Final = Decimal("5.00")  # the ledger tolerance `fee_tolerance` cases assume


def _words(text: str) -> tuple[str, ...]:
    """Words of a word list written as text (easier to read and edit than quoted items)."""
    return tuple(text.split())


_FIRST: Final = _words(
    "Kessler Huber Meyer Nordwind Alpen Berg Sonnen Falken Linden Adler Eichen Stern Blau "
    "Gruen Roth Weiss Fischer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf "
    "Neumann Schwarz Zimmer Braun Krueger Hartmann Lange Werner Krause Lehmann Kaiser "
    "Fuchs "
)
_SECOND: Final = _words(
    "Holz Bau Logistik Handel Technik Software Druck Moebel Metall Textil Energie Medien "
    "Reisen Gastro Pharma Optik Elektro Garten Immobilien Consulting Transport Foods "
    "Digital Systems Partners Labs Werke Service Vertrieb Manufaktur "
)
_SUFFIX: Final = ("GmbH", "AG", "GmbH & Co. KG", "KG", "SE", "e.K.", "UG")
_MERCHANTS: Final = (
    "REWE SAGT DANKE", "ARAL STATION", "DB VERTRIEB GMBH", "LIDL DIENSTL", "SHELL",
    "BAECKEREI HOFMANN", "PARKHAUS ZENTRUM", "IKEA MUENCHEN",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class BankDetail:
    """One payment inside a batch booking (camt TxDtls)."""

    cents: int  # unsigned
    end_to_end_id: str
    name: str
    iban: str
    remittance: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BankLine:
    """One bank booking, as both file formats report it."""

    key: str
    booking_date: date
    value_date: date
    cents: int  # signed: + into the account
    booking_text: str  # the CSV's Buchungstext
    name: str = ""
    iban: str = ""
    end_to_end_id: str = ""
    creditor_reference: str = ""  # RF reference (camt Strd; printed in groups in the CSV)
    mandate_reference: str = ""
    creditor_id: str = ""
    remittance: str = ""  # the SVWZ / Ustrd text
    info: str = ""  # camt AddtlNtryInf; leads the CSV's purpose text when set
    is_reversal: bool = False
    charges_cents: int = 0  # camt Chrgs (unsigned)
    instructed_cents: int = 0  # camt AmtDtls/InstdAmt (unsigned), 0 when not given
    details: tuple[BankDetail, ...] = ()
    batch_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GlLine:
    key: str  # the GL entry's external_id
    booking_date: date
    cents: int
    reference: str = ""
    description: str = ""
    counterparty: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TruthUnit:
    """One constructed match: bank keys and GL keys (empty for a reversal pair)."""

    kind: str
    bank: tuple[str, ...]
    gl: tuple[str, ...]
    difference_cents: int = 0  # bank total - GL total (a fee case: minus the fee)
    twin: int = -1  # twins: either pairing of the same `twin` number is right


@dataclass(slots=True)
class Month:
    bank: list[BankLine]  # in booking order, as the statement lists them
    gl: list[GlLine]
    units: list[TruthUnit]
    account_iban: str
    collisions: float
    tolerance: bool
    opening_cents: int = OPENING_CENTS
    period_from: date = PERIOD_FROM
    period_to: date = PERIOD_TO
    gl_in_period_without_partner: set[str] = field(default_factory=set)

    @property
    def closing_cents(self) -> int:
        return self.opening_cents + sum(line.cents for line in self.bank)


def business_days(first: date, last: date) -> list[date]:
    return [
        first + timedelta(days=d)
        for d in range((last - first).days + 1)
        if (first + timedelta(days=d)).weekday() < 5
    ]


def add_business_days(day: date, count: int) -> date:
    """`day` moved by `count` business days (Mon-Fri); a weekend day counts from Monday."""
    step = 1 if count >= 0 else -1
    while day.weekday() >= 5:
        day += timedelta(days=1)
    moved = 0
    while moved != count:
        day += timedelta(days=step)
        if day.weekday() < 5:
            moved += step
    return day


def next_business_day(day: date) -> date:
    """A payment made on a weekend is booked on the Monday after it."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def iban(country_bank: str, account: int) -> str:
    """A German IBAN with valid check digits."""
    bban = f"{country_bank}{account:010d}"
    number = int(bban + "131400")  # "DE" -> 13 14, then "00"
    return f"DE{98 - number % 97:02d}{bban}"


def creditor_reference(body: str) -> str:
    """ISO 11649 reference with valid check digits for `body`."""
    number = int("".join(str(int(c, 36)) for c in body + "RF00"))
    return f"RF{98 - number % 97:02d}{body}"


class _Builder:
    def __init__(self, cases: int, collisions: float, seed: int, tolerance: bool) -> None:
        # Seeded on purpose: the same arguments give the same month (not for security).
        self.rng = random.Random(seed)  # noqa: S311
        self.cases = cases
        self.collisions = collisions
        self.tolerance = tolerance
        self.days = business_days(PERIOD_FROM, date(2024, 3, 29))
        self.common_days = (date(2024, 3, 1), date(2024, 3, 15), date(2024, 3, 27))
        self.bank: list[BankLine] = []
        self.gl: list[GlLine] = []
        self.units: list[TruthUnit] = []
        self.gl_without_partner: set[str] = set()
        self.serial = 4_700_000 + self.rng.randrange(100_000)
        self.counter = 0
        self.twin_count = 0
        self.twin_keys: set[tuple[int, str, date]] = set()
        self.used_amounts: set[tuple[int, str]] = set()  # (cents, party) of party-only cases
        self.unique_cents: set[int] = set()
        rng = self.rng
        names: set[str] = set()
        self.parties: list[tuple[str, str]] = []
        while len(self.parties) < max(60, cases // 3):
            # Distinct names apart from the legal form ("Koch Gastro AG" and "Koch Gastro
            # UG" would be one party to anybody reading them).
            base = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
            if base in names:
                if len(names) < 900:
                    continue
                base = f"{base} {rng.choice(_FIRST)}"
                if base in names:
                    continue
            names.add(base)
            name = f"{base} {rng.choice(_SUFFIX)}"
            self.parties.append((name, iban("10010010", rng.randrange(10**9, 10**10))))

    # ------------------------------------------------------------------ helpers

    def key(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:05d}"

    def next_serial(self) -> int:
        self.serial += self.rng.randrange(1, 40)
        return self.serial

    def e2e(self) -> str:
        return f"E2E-{self.rng.getrandbits(48):012X}"

    def collide(self) -> bool:
        return self.rng.random() < self.collisions

    def cents(self, *, low: float = 3.0, high: float = 6.3) -> int:
        """Log-uniform, 10.00 .. 20,000.00 by default."""
        return int(10 ** self.rng.uniform(low, high))

    def own_cents(self, *, low: float = 3.0, high: float = 6.3) -> int:
        """An amount no other case of this month has (for cases without evidence)."""
        while True:
            value = self.cents(low=low, high=high)
            if value not in self.unique_cents and value not in COMMON_CENTS:
                self.unique_cents.add(value)
                return value

    def day(self, *, collide: bool) -> date:
        return self.rng.choice(self.common_days if collide else self.days)

    def party(self) -> tuple[str, str]:
        return self.rng.choice(self.parties)

    def gl_name(self, name: str) -> str:
        """The GL writes the party its own way: upper case, or without the legal form."""
        roll = self.rng.random()
        if roll < 0.4:
            return name.upper()
        if roll < 0.7:
            return name.rsplit(" ", 1)[0] if not name.endswith("Co. KG") else name[:-14]
        return name

    def add_bank(self, **kw: object) -> BankLine:
        kw.setdefault("value_date", kw["booking_date"])
        line = BankLine(key=self.key("B"), **kw)  # type: ignore[arg-type]
        self.bank.append(line)
        return line

    def add_gl(self, **kw: object) -> GlLine:
        line = GlLine(key=self.key("G"), **kw)  # type: ignore[arg-type]
        self.gl.append(line)
        return line

    def unit(self, kind: str, bank: list[BankLine], gl: list[GlLine], **kw: int) -> None:
        self.units.append(
            TruthUnit(
                kind=kind,
                bank=tuple(sorted(b.key for b in bank)),
                gl=tuple(sorted(g.key for g in gl)),
                **kw,
            )
        )

    # -------------------------------------------------------------------- cases

    def one_to_one(self, kind: str) -> None:
        rng = self.rng
        sign = -1 if rng.random() < 0.55 else 1
        roll = rng.random()
        if kind == "fee_tolerance":
            evidence = "party"
        elif sign < 0:
            # Outgoing: the ERP made the end-to-end id, or the supplier's invoice number.
            evidence = "e2e" if roll < 0.55 else "invoice" if roll < 0.8 else "party"
        else:
            evidence = (
                "rf" if roll < 0.3 else "invoice" if roll < 0.7 else "party"
            )  # incoming: the customer quotes what we printed on the invoice
        if kind == "fee" and evidence == "party":
            evidence = "invoice"  # a fee case always quotes a reference
        if kind in ("exact", "shifted") and rng.random() < 0.05 and not self.collisions:
            evidence = "none"
        collide = evidence != "none" and self.collide()
        fee = 0
        if kind in ("fee", "fee_tolerance"):
            gl_cents = rng.choice(COMMON_CENTS[4:]) if collide else self.cents(low=4.4, high=6.3)
            cap = min(450, gl_cents * 2 // 100)  # at most 2 % of the amount
            fee = rng.randrange(50, max(51, cap + 1))
            if kind == "fee_tolerance":
                fee = min(fee, int(FEE_TOLERANCE * 100))
        elif evidence in ("none", "party"):
            gl_cents = rng.choice(COMMON_CENTS) if collide else self.own_cents()
        else:
            gl_cents = rng.choice(COMMON_CENTS) if collide else self.cents()
        name, party_iban = self.party()
        if evidence == "party":
            # The counterparty is all there is: one payment of this amount per party.
            tries = 0
            while (gl_cents, name) in self.used_amounts and tries < 50:
                name, party_iban = self.party()
                tries += 1
            self.used_amounts.add((gl_cents, name))
        bank_day = self.day(collide=collide)
        gl_day = bank_day
        if kind == "shifted":
            gl_day = add_business_days(bank_day, -rng.randrange(1, 4))
        bank_cents = sign * gl_cents - fee  # the bank keeps its fee: less in, more out
        number = self.next_serial()
        bank_kw: dict[str, object] = {"name": name, "iban": party_iban}
        gl_kw: dict[str, object] = {"counterparty": self.gl_name(name)}
        text = "SEPA-Ueberweisung" if sign < 0 else "SEPA-Gutschrift"
        if evidence == "e2e":
            ref = self.e2e()
            bank_kw["end_to_end_id"] = ref
            bank_kw["remittance"] = f"Rechnung {number}"
            gl_kw["reference"] = ref
            gl_kw["description"] = f"Zahlung Lieferant {name}"
        elif evidence == "rf":
            ref = creditor_reference(f"{number}{rng.randrange(1000, 9999)}")
            bank_kw["creditor_reference"] = ref
            gl_kw["reference"] = ref
            gl_kw["description"] = f"Zahlungseingang {name}"
        elif evidence == "invoice":
            bank_kw["remittance"] = (
                f"{rng.choice(('Rechnung', 'Rechnung Nr.', 'RE', 'Invoice'))} {number} "
                f"Kd-Nr. {rng.randrange(10**5, 10**6)}"
            )
            gl_kw["reference"] = f"INV-{number}"
            gl_kw["description"] = f"Rechnung {number}"
        elif evidence == "party":
            bank_kw["remittance"] = f"Zahlung {rng.choice(('Maerz', 'Abschlag', 'Miete'))}"
            gl_kw["description"] = "Zahlung"
            gl_kw["counterparty"] = name
        else:
            bank_kw = {"remittance": "Zahlung"}
            gl_kw = {"description": "Sonstige Zahlung"}
        if kind in ("fee", "fee_tolerance"):
            bank_kw["charges_cents"] = fee
            bank_kw["instructed_cents"] = gl_cents
        bank = self.add_bank(booking_date=bank_day, cents=bank_cents, booking_text=text, **bank_kw)
        gl = self.add_gl(booking_date=gl_day, cents=sign * gl_cents, **gl_kw)
        self.unit(kind, [bank], [gl], difference_cents=bank_cents - sign * gl_cents)

    def weekend_split(self) -> None:
        rng = self.rng
        sign = 1 if rng.random() < 0.7 else -1
        k = rng.randrange(2, 4)
        collide = self.collide()
        total = rng.choice(COMMON_CENTS[5:]) if collide else self.cents(low=4.0, high=6.0)
        while True:
            # Instalments are amounts of their own: no other case pays exactly one of them.
            parts = _cut(total, k, rng)
            if not any(part in self.unique_cents for part in parts):
                self.unique_cents.update(parts)
                break
        # The invoice is due on a Thursday or Friday; instalments are paid around it, the
        # weekend ones booked on Monday, and now and then one a week late.
        fridays = [d for d in self.days if d.weekday() in (3, 4) and d <= date(2024, 3, 21)]
        gl_day = rng.choice(fridays)
        number = self.next_serial()
        name, party_iban = self.party()
        gl = self.add_gl(
            booking_date=gl_day,
            cents=sign * total,
            reference=f"INV-{number}",
            description=f"Rechnung {number} {name}",
            counterparty=self.gl_name(name),
        )
        banks = []
        for i, part in enumerate(parts):
            paid = gl_day + timedelta(days=rng.choice((0, 1, 1, 2, 2, 3, 4)))
            if i == k - 1 and rng.random() < 0.25:
                paid = gl_day + timedelta(days=rng.randrange(6, 9))  # a week late
            booked = next_business_day(paid)
            word = rng.choice(("Teilzahlung", "Rate", "Abschlag"))
            banks.append(
                self.add_bank(
                    booking_date=booked,
                    value_date=booked,
                    cents=sign * part,
                    booking_text="SEPA-Gutschrift" if sign > 0 else "SEPA-Ueberweisung",
                    name=name,
                    iban=party_iban,
                    remittance=f"{word} {i + 1}/{k} RE {number}",
                )
            )
        self.unit("weekend_split", banks, [gl])

    def batch(self, *, busy: bool) -> None:
        rng = self.rng
        k = rng.randrange(2, 6)
        collide = not busy and self.collide()
        parts = [
            rng.choice(COMMON_CENTS[:9]) if collide else self.own_cents(low=3.5, high=5.3)
            for _ in range(k)
        ]
        run_id = f"PMTINF-{rng.randrange(10**6, 10**7)}"
        day = self.day(collide=False)
        run_day = day if rng.random() < 0.6 else add_business_days(day, -1)
        details = []
        gls = []
        for cents in parts:
            name, party_iban = self.party()
            number = self.next_serial()
            ref = self.e2e()
            details.append(
                BankDetail(
                    cents=cents,
                    end_to_end_id=ref,
                    name=name,
                    iban=party_iban,
                    remittance=f"RE {number}",
                )
            )
            description = f"Zahlungslauf {run_id} {name}" if not busy else f"Kreditor {name}"
            gls.append(
                self.add_gl(
                    booking_date=run_day,
                    cents=-cents,
                    reference=f"INV-{number}" if rng.random() < 0.5 or busy else ref,
                    description=description,
                    counterparty=self.gl_name(name),
                )
            )
        bank = self.add_bank(
            booking_date=day,
            cents=-sum(parts),
            booking_text="SAMMEL-UEBERWEISUNG",
            info=f"SAMMLER {k} POSTEN {run_id}",
            details=tuple(details),
            batch_id=run_id,
        )
        self.unit("batch_busy" if busy else "batch", [bank], gls)

    def reversal(self) -> None:
        rng = self.rng
        collide = self.collide()
        cents = rng.choice(COMMON_CENTS[:8]) if collide else self.cents(low=3.0, high=5.0)
        name, party_iban = self.party()
        day = self.day(collide=collide)
        if day > date(2024, 3, 22):
            day = date(2024, 3, 22)
        later = add_business_days(day, rng.randrange(1, 6))
        ref = self.e2e()
        mandate = f"M-{rng.randrange(10**5, 10**6)}"
        creditor = "DE98ZZZ09999999999"
        month = rng.choice(("03/2024", "Q1 2024", "Maerz"))
        if rng.random() < 0.7:
            # We collected from a customer; the customer's bank sent it back.
            sign, original_text, return_text = 1, "SEPA-Basislastschrift", "Ruecklastschrift"
        else:
            # A supplier collected from us; we had it returned.
            sign, original_text, return_text = -1, "SEPA-Lastschrift", "Rueckbuchung"
        original = self.add_bank(
            booking_date=day,
            cents=sign * cents,
            booking_text=original_text,
            name=name,
            iban=party_iban,
            end_to_end_id=ref,
            mandate_reference=mandate,
            creditor_id=creditor,
            remittance=f"Beitrag {month}",
        )
        returned = self.add_bank(
            booking_date=later,
            cents=-sign * cents,
            booking_text=return_text,
            name=name,
            iban=party_iban,
            end_to_end_id=ref,
            mandate_reference=mandate,
            creditor_id=creditor,
            remittance=f"Beitrag {month} {rng.choice(('AC04', 'MD06', 'AM04'))}",
            info=f"{return_text.upper()} {name}",
            is_reversal=True,
        )
        self.unit("reversal", [original, returned], [])

    def twins(self) -> None:
        rng = self.rng
        while True:
            # Two twin pairs of one merchant, amount and day would be four payments
            # nothing tells apart, not two pairs: each pair is distinct.
            cents = rng.choice(COMMON_CENTS[:6]) if self.collide() else self.own_cents(high=4.3)
            merchant = rng.choice(_MERCHANTS)
            day = self.day(collide=False)
            if (cents, merchant, day) not in self.twin_keys:
                self.twin_keys.add((cents, merchant, day))
                break
        banks = [
            self.add_bank(
                booking_date=day,
                cents=-cents,
                booking_text="Kartenzahlung",
                name=merchant,
                remittance=f"{day:%Y-%m-%d} Debitk.1 2027-12",
            )
            for _ in range(2)
        ]
        gls = [
            self.add_gl(
                booking_date=day,
                cents=-cents,
                description=f"Bewirtung {merchant.title()}",
                counterparty=merchant,
            )
            for _ in range(2)
        ]
        self.twin_count += 1
        for b, g in zip(banks, gls, strict=True):
            self.unit("twin", [b], [g], twin=self.twin_count)

    def bank_noise(self) -> None:
        rng = self.rng
        roll = rng.random()
        day = self.day(collide=False)
        if roll < 0.3:
            self.add_bank(
                booking_date=day,
                cents=-self.own_cents(low=2.5, high=3.6),
                booking_text="Entgelt",
                remittance="Kontofuehrungsentgelt",
            )
        elif roll < 0.4:
            self.add_bank(
                booking_date=day,
                cents=self.own_cents(low=1.0, high=3.0),
                booking_text="Zinsen",
                remittance="Habenzinsen",
            )
        else:
            name, _ = self.party()
            self.add_bank(
                booking_date=day,
                cents=self.own_cents() * (1 if rng.random() < 0.5 else -1),
                booking_text="SEPA-Gutschrift",
                name=f"{name} Filiale {rng.randrange(100, 999)}",
                iban=iban("20020020", rng.randrange(10**9, 10**10)),
                remittance=f"Vorgang X{rng.getrandbits(40):010X}",
            )

    def gl_noise(self) -> None:
        rng = self.rng
        day = rng.choice([*self.days, date(2024, 3, 30), date(2024, 3, 31), date(2024, 3, 31)])
        name, _ = self.party()
        line = self.add_gl(
            booking_date=day,
            cents=self.own_cents() * (1 if rng.random() < 0.4 else -1),
            reference=f"ACC-{rng.getrandbits(40):010X}",
            description=f"Abgrenzung {name}",
            counterparty=name,
        )
        self.gl_without_partner.add(line.key)

    def outside_period(self) -> None:
        """GL entries just before and after the statement's period (no finding expected)."""
        for day in (date(2024, 2, 28), date(2024, 4, 2)):
            self.add_gl(
                booking_date=day,
                cents=-self.own_cents(),
                reference=f"ACC-{self.rng.getrandbits(40):010X}",
                description="Vormonat" if day.month == 2 else "Folgemonat",
            )


def _cut(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` cut into `parts` positive pieces of at least a tenth of an even share."""
    floor = max(1, total // (parts * 10))
    while True:
        cuts = sorted(rng.randrange(1, total) for _ in range(parts - 1))
        pieces = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        if min(pieces) >= floor and len(set(pieces)) == parts:
            return pieces


def generate_month(
    cases: int, *, collisions: float = 0.0, seed: int = 0, tolerance: bool = False
) -> Month:
    """About `cases` truth cases plus noise, for one account and March 2024.

    `tolerance=True` adds `fee_tolerance` cases, which only a ledger with an amount
    tolerance of at least `FEE_TOLERANCE` can match (their only evidence is the
    counterparty); otherwise their share goes to `fee`.
    """
    if not 0.0 <= collisions <= 1.0:
        raise ValueError("collisions must be between 0 and 1")
    builder = _Builder(cases, collisions, seed, tolerance)
    rng = builder.rng
    shares = [(kind, share) for kind, share in CASE_SHARES if tolerance or kind != "fee_tolerance"]
    total = sum(share for _, share in shares)
    plan: list[str] = []
    for kind, share in shares:
        plan.extend([kind] * max(1, round(cases * share / total)))
    rng.shuffle(plan)
    for kind in plan:
        if kind in ("exact", "shifted", "fee", "fee_tolerance"):
            builder.one_to_one(kind)
        elif kind == "weekend_split":
            builder.weekend_split()
        elif kind == "batch":
            builder.batch(busy=False)
        elif kind == "batch_busy":
            builder.batch(busy=True)
        elif kind == "reversal":
            builder.reversal()
        elif kind == "twins":
            builder.twins()
        elif kind == "bank_noise":
            builder.bank_noise()
        else:
            builder.gl_noise()
    builder.outside_period()
    # The statement lists bookings by day; within a day the order is the bank's own.
    order = sorted(range(len(builder.bank)), key=lambda i: (builder.bank[i].booking_date, i))
    account = iban("37040044", 532013000)
    return Month(
        bank=[builder.bank[i] for i in order],
        gl=builder.gl,
        units=builder.units,
        account_iban=account,
        collisions=collisions,
        tolerance=tolerance,
        gl_in_period_without_partner=builder.gl_without_partner,
    )


# ------------------------------------------------------------------------------ rendering


def _money(cents: int) -> str:
    whole, frac = divmod(abs(cents), 100)
    return f"{whole}.{frac:02d}"


def _de_money(cents: int) -> str:
    """-1234567 -> "-12.345,67"."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{frac:02d}"


def decimal_of(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def _spaced(reference: str) -> str:
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))


def render_csv(month: Month) -> tuple[bytes, dict[int, str]]:
    """The month as a German online-banking CSV export (UTF-8, `;`, decimal comma).

    Returns the file and the physical line of every bank booking (line -> bank key). The
    preamble states the period and the balance of the day before it ("Kontostand vom
    29.02.2024", the opening balance); the footer the balance at the period's end.
    """
    lines = [
        "Umsatzanzeige;Datei erstellt am: 02.04.2024 08:15",
        f"Kontonummer/IBAN:;{_spaced(month.account_iban)}",
        f"Kontoinhaber:;{ACCOUNT_NAME}",
        f"Zeitraum:;{month.period_from:%d.%m.%Y} - {month.period_to:%d.%m.%Y}",
        f"Kontostand vom {month.period_from - timedelta(days=1):%d.%m.%Y}:;"
        f"{_de_money(month.opening_cents)} EUR",
        "",
        "Buchungstag;Valutadatum;Buchungstext;Auftraggeber/Empfänger;IBAN;Verwendungszweck;"
        "Betrag;Währung",
    ]
    where: dict[int, str] = {}
    for line in month.bank:
        where[len(lines) + 1] = line.key
        lines.append(
            ";".join(
                _csv_cell(cell)
                for cell in (
                    f"{line.booking_date:%d.%m.%Y}",
                    f"{line.value_date:%d.%m.%Y}",
                    line.booking_text,
                    line.name,
                    line.iban,
                    _purpose(line),
                    _de_money(line.cents),
                    CURRENCY,
                )
            )
        )
    lines.append("")
    lines.append(f"Kontostand vom {month.period_to:%d.%m.%Y}:;{_de_money(month.closing_cents)} EUR")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8"), where


def _csv_cell(text: str) -> str:
    if ";" in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def _purpose(line: BankLine) -> str:
    """The Verwendungszweck as German banks print it: SEPA tags, then the free text."""
    parts = []
    if line.info:
        parts.append(line.info)
    if line.end_to_end_id:
        parts.append(f"EREF: {line.end_to_end_id}")
    if line.mandate_reference:
        parts.append(f"MREF: {line.mandate_reference}")
    if line.creditor_id:
        parts.append(f"CRED: {line.creditor_id}")
    text = line.remittance
    if line.creditor_reference:
        text = f"{text} {_spaced(line.creditor_reference)}".strip()
    if text:
        parts.append(f"SVWZ: {text}" if parts else text)
    return " ".join(parts)


def render_camt053(month: Month) -> tuple[bytes, dict[int, str]]:
    """The month as a camt.053.001.08 statement; returns the file and Ntry index -> key."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>TRUTH-2024-03</MsgId><CreDtTm>2024-04-02T06:00:00+02:00</CreDtTm>"
        "</GrpHdr><Stmt><Id>TRUTH-2024-03</Id><ElctrncSeqNb>3</ElctrncSeqNb>"
        f"<FrToDt><FrDtTm>{month.period_from}T00:00:00+01:00</FrDtTm>"
        f"<ToDtTm>{month.period_to}T23:59:59+02:00</ToDtTm></FrToDt>"
        f"<Acct><Id><IBAN>{month.account_iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>",
        _camt_balance("OPBD", month.opening_cents, month.period_from - timedelta(days=1)),
        _camt_balance("CLBD", month.closing_cents, month.period_to),
        "\n",
    ]
    where: dict[int, str] = {}
    for index, line in enumerate(month.bank, 1):
        where[index] = line.key
        out.append(_camt_entry(line, index))
    out.append("</Stmt></BkToCstmrStmt></Document>\n")
    return "".join(out).encode("utf-8"), where


def _camt_balance(code: str, cents: int, day: date) -> str:
    cd = "CRDT" if cents >= 0 else "DBIT"
    return (
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{_money(cents)}'
        f"</Amt><CdtDbtInd>{cd}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>"
    )


def _camt_entry(line: BankLine, index: int) -> str:
    credit = line.cents > 0
    cd = "CRDT" if credit else "DBIT"
    parts = [
        f'<Ntry><NtryRef>{index}</NtryRef><Amt Ccy="EUR">{_money(line.cents)}</Amt>'
        f"<CdtDbtInd>{cd}</CdtDbtInd>"
    ]
    if line.is_reversal:
        parts.append("<RvslInd>true</RvslInd>")
    parts.append(
        f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{line.booking_date}</Dt></BookgDt>"
        f"<ValDt><Dt>{line.value_date}</Dt></ValDt><AcctSvcrRef>BNK2024{index:07d}</AcctSvcrRef>"
        f"<BkTxCd><Prtry><Cd>{escape(line.booking_text)}</Cd></Prtry></BkTxCd>"
    )
    if line.charges_cents:
        parts.append(_charges(line.charges_cents))
    parts.append("<NtryDtls>")
    if line.details:
        parts.append(f"<Btch><PmtInfId>{line.batch_id}</PmtInfId>")
        parts.append(f"<NbOfTxs>{len(line.details)}</NbOfTxs></Btch>")
        for detail in line.details:
            parts.append(
                f"<TxDtls><Refs><EndToEndId>{detail.end_to_end_id}</EndToEndId></Refs>"
                f'<Amt Ccy="EUR">{_money(detail.cents)}</Amt><CdtDbtInd>{cd}</CdtDbtInd>'
                f"<RltdPties><Cdtr><Pty><Nm>{escape(detail.name)}</Nm></Pty></Cdtr>"
                f"<CdtrAcct><Id><IBAN>{detail.iban}</IBAN></Id></CdtrAcct></RltdPties>"
                f"<RmtInf><Ustrd>{escape(detail.remittance)}</Ustrd></RmtInf></TxDtls>"
            )
    else:
        parts.append(_camt_detail(line, credit, cd))
    parts.append("</NtryDtls>")
    if line.info:
        parts.append(f"<AddtlNtryInf>{escape(line.info)}</AddtlNtryInf>")
    parts.append("</Ntry>\n")
    return "".join(parts)


def _charges(cents: int) -> str:
    return (
        f'<Chrgs><TtlChrgsAndTaxAmt Ccy="EUR">{_money(cents)}</TtlChrgsAndTaxAmt>'
        f'<Rcrd><Amt Ccy="EUR">{_money(cents)}</Amt><CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>'
    )


def _camt_detail(line: BankLine, credit: bool, cd: str) -> str:
    refs = f"<EndToEndId>{line.end_to_end_id or 'NOTPROVIDED'}</EndToEndId>"
    if line.mandate_reference:
        refs += f"<MndtId>{line.mandate_reference}</MndtId>"
    parts = [f"<TxDtls><Refs>{refs}</Refs>"]
    if line.instructed_cents:
        parts.append(
            f'<AmtDtls><InstdAmt><Amt Ccy="EUR">{_money(line.instructed_cents)}</Amt></InstdAmt>'
            "</AmtDtls>"
        )
    if line.name:
        # The other party: the debtor of money received, the creditor of money paid. A
        # return is described like any booking in its own direction, so its only party
        # sits in the role the original booking did not give it (the parser falls back
        # to the party present).
        role = "Dbtr" if credit else "Cdtr"
        account = f"<{role}Acct><Id><IBAN>{line.iban}</IBAN></Id></{role}Acct>" if line.iban else ""
        parts.append(
            f"<RltdPties><{role}><Pty><Nm>{escape(line.name)}</Nm></Pty></{role}>"
            f"{account}</RltdPties>"
        )
    remittance = ""
    if line.remittance:
        remittance += f"<Ustrd>{escape(line.remittance)}</Ustrd>"
    if line.creditor_reference:
        remittance += (
            "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
            f"<Ref>{line.creditor_reference}</Ref></CdtrRefInf></Strd>"
        )
    if remittance:
        parts.append(f"<RmtInf>{remittance}</RmtInf>")
    parts.append("</TxDtls>")
    return "".join(parts)


def iter_units(month: Month, kinds: tuple[str, ...]) -> Iterator[TruthUnit]:
    return (unit for unit in month.units if unit.kind in kinds)
