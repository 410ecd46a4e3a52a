"""Deterministic demo data: a month of GL entries and the bank's camt.053 for it.

Pure (no Django): `make run` loads the GL side through the services and uploads the
statement written by `demo_statement_xml()`, so a reviewer meets every case the matcher
knows: exact payments, shifted dates, bank fees, a batch booking, twin payments that only a
person can tell apart, a reversal pair, bank-only charges and GL-only entries.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

DEMO_IBAN = "DE89370400440532013000"
DEMO_CURRENCY = "EUR"
PERIOD_START = date(2026, 11, 2)
PERIOD_END = date(2026, 11, 27)
OPENING_BALANCE = Decimal("120431.20")

CUSTOMERS = [
    ("ACME GmbH", "DE44500105175407324931"),
    ("Beta AG", "CH9300762011623852957"),
    ("Nordlicht Handels KG", "DE02120300000000202051"),
    ("Rivera & Sons Ltd", "GB29NWBK60161331926819"),
    ("Kowalski Sp. z o.o.", "PL61109010140000071219812874"),
    ("Maison Dupont SARL", "FR1420041010050500013M02606"),
    ("Van der Berg BV", "NL91ABNA0417164300"),
    ("Oakfield Partners LLP", "GB82WEST12345698765432"),
    ("Studio Bellini Srl", "IT60X0542811101000000123456"),
    ("Fjord Analytics AS", "NO9386011117947"),
]
SUPPLIERS = [
    ("Stadtwerke München", "DE89370400440532013000"),
    ("Office Depot Europe", "NL20INGB0001234567"),
    ("CloudHost GmbH", "DE75512108001245126199"),
    ("Müller Logistik", "DE12500105170648489890"),
    ("Papierwerk Nord", "DE27100777770209299700"),
    ("Telekom Business", "DE02300209000106531065"),
]


@dataclass(frozen=True, slots=True)
class DemoGlEntry:
    external_id: str
    amount: Decimal
    booking_date: date
    reference: str
    description: str
    counterparty: str


@dataclass(frozen=True, slots=True)
class DemoTx:
    amount: Decimal
    end_to_end_id: str
    remittance: str
    counterparty: str
    iban: str
    creditor_reference: str = ""


@dataclass(frozen=True, slots=True)
class DemoBankEntry:
    amount: Decimal
    booking_date: date
    bank_reference: str
    description: str
    txs: tuple[DemoTx, ...] = ()
    is_reversal: bool = False
    code: str = "PMNT/RCDT/ESCT"


@dataclass(slots=True)
class DemoData:
    gl: list[DemoGlEntry] = field(default_factory=list)
    bank: list[DemoBankEntry] = field(default_factory=list)


def _rf(n: int) -> str:
    """A valid ISO 11649 creditor reference (RF + check digits + the reference)."""
    body = f"{n:010d}"
    digits = "".join(str(int(ch, 36)) for ch in body + "RF00")
    check = 98 - int(digits) % 97
    return f"RF{check:02d}{body}"


def build_demo(seed: int = 2026) -> DemoData:
    rng = random.Random(seed)  # noqa: S311 -- demo data, not security
    data = DemoData()
    days = [PERIOD_START + timedelta(days=i) for i in range((PERIOD_END - PERIOD_START).days + 1)]
    workdays = [d for d in days if d.weekday() < 5]
    seq = iter(range(1, 10_000))

    def bank_ref() -> str:
        return f"DEMO{next(seq):06d}"

    def gl(amount: Decimal, day: date, ref: str, text: str, party: str) -> DemoGlEntry:
        entry = DemoGlEntry(f"GL-{len(data.gl) + 1:05d}", amount, day, ref, text, party)
        data.gl.append(entry)
        return entry

    def shifted(day: date) -> date:
        later = day + timedelta(days=rng.choice([0, 0, 0, 1, 1, 2]))
        return min(later, PERIOD_END)

    # Customer receipts and supplier payments that the bank books as they are.
    for i in range(240):
        day = rng.choice(workdays)
        invoice = 4000 + i
        if rng.random() < 0.6:
            name, iban = rng.choice(CUSTOMERS)
            amount = Decimal(rng.randrange(5_000, 900_000)) / 100
            ref = f"INV-{invoice}"
            creditor_ref = _rf(invoice) if rng.random() < 0.4 else ""
            entry = gl(amount, day, creditor_ref or ref, f"Customer receipt {ref}", name)
            tx = DemoTx(
                amount, f"E2E-{invoice}", f"Invoice {invoice} November", name, iban, creditor_ref
            )
        else:
            name, iban = rng.choice(SUPPLIERS)
            amount = -Decimal(rng.randrange(2_000, 400_000)) / 100
            ref = f"PO-{invoice}"
            entry = gl(amount, day, ref, f"Supplier payment {ref}", name)
            tx = DemoTx(amount, f"PAY-{invoice}", f"{ref} {name}", name, iban)
        if i % 37 == 5:
            continue  # GL-only: booked in the ledger, not (yet) at the bank
        bank_day = shifted(day)
        if i % 29 == 3 and amount > 0:
            # The payer's bank deducted a fee: the bank shows less than the invoice.
            fee = Decimal("2.50")
            tx = DemoTx(
                amount - fee,
                tx.end_to_end_id,
                tx.remittance,
                tx.counterparty,
                tx.iban,
                tx.creditor_reference,
            )
            data.bank.append(
                DemoBankEntry(amount - fee, bank_day, bank_ref(), tx.remittance, (tx,))
            )
            continue
        data.bank.append(DemoBankEntry(amount, bank_day, bank_ref(), tx.remittance, (tx,)))
        del entry

    # One batch booking: a salary run of four payments the ledger books one by one.
    salaries = [Decimal("-3120.55"), Decimal("-2890.00"), Decimal("-4012.75"), Decimal("-2455.10")]
    batch_txs = []
    for n, amount in enumerate(salaries, start=1):
        gl(
            amount,
            date(2026, 11, 25),
            f"SAL-11-{n}",
            f"Salary November employee {n}",
            f"Employee {n}",
        )
        batch_txs.append(
            DemoTx(
                amount,
                f"SAL-11-{n}",
                f"Salary 11/2026 #{n}",
                f"Employee {n}",
                "DE02120300000000202051",
            )
        )
    data.bank.append(
        DemoBankEntry(
            sum(salaries, Decimal("0")),
            date(2026, 11, 25),
            bank_ref(),
            "Salary batch November",
            tuple(batch_txs),
            code="PMNT/ICDT/SALA",
        )
    )

    # Twin payments: same amount, same day, no reference; only a person can pair them.
    for n in (1, 2):
        gl(Decimal("-49.90"), date(2026, 11, 12), "", "Card payment fuel", "Tankstelle Süd")
        data.bank.append(
            DemoBankEntry(
                Decimal("-49.90"),
                date(2026, 11, 12),
                bank_ref(),
                "CARD 4711 TANKSTELLE SUED",
                code="PMNT/CCRD/POSD",
            )
        )
        del n

    # A direct debit the bank took and gave back: a reversal pair, no GL entry needed.
    debit_ref = "DD-MANDATE-7781"
    data.bank.append(
        DemoBankEntry(
            Decimal("-310.00"),
            date(2026, 11, 16),
            bank_ref(),
            f"SEPA direct debit {debit_ref}",
            (
                DemoTx(
                    Decimal("-310.00"),
                    debit_ref,
                    "Insurance premium",
                    "Allianz Versicherung",
                    "DE12500105170648489890",
                ),
            ),
            code="PMNT/RDDT/ESDD",
        )
    )
    data.bank.append(
        DemoBankEntry(
            Decimal("310.00"),
            date(2026, 11, 18),
            bank_ref(),
            f"Return of SEPA direct debit {debit_ref}",
            (
                DemoTx(
                    Decimal("310.00"),
                    debit_ref,
                    "Insurance premium returned",
                    "Allianz Versicherung",
                    "DE12500105170648489890",
                ),
            ),
            is_reversal=True,
            code="PMNT/RDDT/ESDD",
        )
    )

    # Bank-only: charges and interest nobody booked yet.
    data.bank.append(
        DemoBankEntry(
            Decimal("-18.40"),
            date(2026, 11, 27),
            bank_ref(),
            "Account maintenance fee November",
            code="ACMT/MDOP/CHRG",
        )
    )
    data.bank.append(
        DemoBankEntry(
            Decimal("3.12"),
            date(2026, 11, 27),
            bank_ref(),
            "Credit interest",
            code="ACMT/MCOP/INTR",
        )
    )
    data.bank.sort(key=lambda e: (e.booking_date, e.bank_reference))
    return data


def demo_statement_xml(data: DemoData) -> bytes:
    return "".join(_camt_chunks(data)).encode("utf-8")


def _amt(value: Decimal) -> str:
    return f"{abs(value):.2f}"


def _cd(value: Decimal) -> str:
    return "CRDT" if value >= 0 else "DBIT"


def _camt_chunks(data: DemoData) -> Iterator[str]:
    total = sum((e.amount for e in data.bank), Decimal("0"))
    closing = OPENING_BALANCE + total
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">\n'
        "<BkToCstmrStmt>\n<GrpHdr><MsgId>DEMO-2026-11</MsgId>"
        "<CreDtTm>2026-11-27T18:00:00+01:00</CreDtTm></GrpHdr>\n<Stmt>\n"
        "<Id>DEMO-STMT-2026-11</Id><ElctrncSeqNb>11</ElctrncSeqNb><LglSeqNb>11</LglSeqNb>"
        "<CreDtTm>2026-11-27T18:00:00+01:00</CreDtTm>"
        f"<FrToDt><FrDtTm>{PERIOD_START}T00:00:00+01:00</FrDtTm>"
        f"<ToDtTm>{PERIOD_END}T23:59:59+01:00</ToDtTm></FrToDt>\n"
        f"<Acct><Id><IBAN>{DEMO_IBAN}</IBAN></Id><Ccy>{DEMO_CURRENCY}</Ccy></Acct>\n"
    )
    for code, amount, day in (
        ("OPBD", OPENING_BALANCE, PERIOD_START),
        ("CLBD", closing, PERIOD_END),
    ):
        yield (
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="{DEMO_CURRENCY}">{_amt(amount)}</Amt><CdtDbtInd>{_cd(amount)}</CdtDbtInd>'
            f"<Dt><Dt>{day}</Dt></Dt></Bal>\n"
        )
    for entry in data.bank:
        domain, family, sub = entry.code.split("/")
        yield (
            f'<Ntry><Amt Ccy="{DEMO_CURRENCY}">{_amt(entry.amount)}</Amt>'
            f"<CdtDbtInd>{_cd(entry.amount)}</CdtDbtInd>"
            + ("<RvslInd>true</RvslInd>" if entry.is_reversal else "")
            + f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{entry.booking_date}</Dt></BookgDt>"
            f"<ValDt><Dt>{entry.booking_date}</Dt></ValDt>"
            f"<AcctSvcrRef>{entry.bank_reference}</AcctSvcrRef>"
            f"<BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub}</SubFmlyCd>"
            "</Fmly></Domn></BkTxCd>"
        )
        if entry.txs:
            yield "<NtryDtls>"
            if len(entry.txs) > 1:
                yield (
                    f"<Btch><NbOfTxs>{len(entry.txs)}</NbOfTxs>"
                    f'<TtlAmt Ccy="{DEMO_CURRENCY}">{_amt(entry.amount)}</TtlAmt>'
                    f"<CdtDbtInd>{_cd(entry.amount)}</CdtDbtInd></Btch>"
                )
            for tx in entry.txs:
                party = "Dbtr" if tx.amount >= 0 else "Cdtr"
                yield (
                    f"<TxDtls><Refs><EndToEndId>{escape(tx.end_to_end_id)}</EndToEndId></Refs>"
                    f'<Amt Ccy="{DEMO_CURRENCY}">{_amt(tx.amount)}</Amt>'
                    f"<CdtDbtInd>{_cd(tx.amount)}</CdtDbtInd>"
                    f"<RltdPties><{party}><Pty><Nm>{escape(tx.counterparty)}</Nm></Pty></{party}>"
                    f"<{party}Acct><Id><IBAN>{tx.iban}</IBAN></Id></{party}Acct></RltdPties>"
                    f"<RmtInf><Ustrd>{escape(tx.remittance)}</Ustrd>"
                )
                if tx.creditor_reference:
                    yield (
                        "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
                        f"<Ref>{tx.creditor_reference}</Ref></CdtrRefInf></Strd>"
                    )
                yield "</RmtInf></TxDtls>"
            yield "</NtryDtls>"
        yield f"<AddtlNtryInf>{escape(entry.description)}</AddtlNtryInf></Ntry>\n"
    yield "</Stmt>\n</BkToCstmrStmt>\n</Document>\n"
