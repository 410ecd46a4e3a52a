"""Deterministic statement files for the benchmark, streamed to disk (no Django).

`write_csv_statement()` writes a German online-banking style CSV export: preamble lines
(account, period, opening and closing balance), a header the parser has to find, then
booked rows of every kind a business account sees (SEPA transfers in and out, direct
debits, card payments, standing orders, fees), with decimal commas, `.` thousands, quoted
purpose texts that contain the separator, the odd purpose text with a line break, empty
value dates, and repeated identical card payments.

`write_camt053()` writes a camt.053.001.08 document with one statement per month, real
opening/closing balances, and batch bookings (`NtryDtls/Btch` with 2-6 `TxDtls`) beside
single transfers carrying end-to-end ids, RF creditor references and counterparties.

Both write row by row, so a million-row file costs a few MB of memory, and both are pure
functions of `(rows, seed)`: the same arguments give the same bytes. Balances need the sum
of the amounts before the rows are written; amounts come from their own random stream,
which a cheap first pass replays.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

ACCOUNT_IBAN: Final = "DE02120300000000202051"
CURRENCY: Final = "EUR"
YEAR_START: Final = date(2024, 1, 1)
DAYS: Final = 366

_PARTIES: Final = (
    "Kessler Holzbau GmbH", "Nordwind Logistik AG", "Alpen Software GmbH & Co. KG",
    "Rhein Druck e.K.", "Falken Metall GmbH", "Linden Moebel AG", "Adler Textil UG",
    "Eichen Energie SE", "Stern Medien GmbH", "Blau Reisen GmbH", "Gruen Gastro KG",
    "Roth Pharma AG", "Weiss Optik GmbH", "Fischer Elektro GmbH", "Wagner Garten GmbH",
    "Becker Immobilien AG", "Schulz Consulting GmbH", "Hoffmann Transport GmbH",
    "Koch Foods GmbH", "Richter Digital GmbH", "Klein Systems AG", "Wolf Partners GmbH",
    "Neumann Labs GmbH", "Zimmer Werke AG", "Braun Vertrieb GmbH", "Stadtwerke Muenchen",
    "Telekom Deutschland GmbH", "Finanzamt Muenchen", "AOK Bayern", "Allianz Versicherungs-AG",
)  # fmt: skip
_MERCHANTS: Final = (
    "REWE SAGT DANKE", "ARAL STATION 1234", "DB VERTRIEB GMBH", "AMAZON EU SARL",
    "LIDL DIENSTL", "SHELL 4711", "BAECKEREI HOFMANN", "PARKHAUS ZENTRUM", "IKEA MUENCHEN",
)  # fmt: skip
_KINDS: Final = (
    # (Buchungstext, share, sign: -1 out / +1 in)
    ("SEPA-Ueberweisung", 0.34, -1),
    ("SEPA-Gutschrift", 0.24, 1),
    ("SEPA-Lastschrift", 0.14, -1),
    ("Kartenzahlung", 0.18, -1),
    ("Dauerauftrag", 0.05, -1),
    ("Entgelt", 0.03, -1),
    ("Zinsen", 0.02, 1),
)


@dataclass(frozen=True, slots=True)
class FileStats:
    path: Path
    rows: int  # entries the parser will import
    size_bytes: int


def _iban(rng: random.Random) -> str:
    """A German IBAN with valid check digits (the parser does not check; a bank would)."""
    bban = f"{rng.randrange(10**7, 10**8)}{rng.randrange(10**9, 10**10)}"
    number = int(bban + "131400")  # "DE" -> 13 14, then "00"
    return f"DE{98 - number % 97:02d}{bban}"


def _rf(body: int) -> str:
    text = f"{body:012d}"
    number = int(text + "271500")  # "RF" -> 27 15, then "00"
    return f"RF{98 - number % 97:02d}{text}"


def _cents(rng: random.Random) -> int:
    """Log-uniform 0.50 .. 250,000.00, like a business account's mix."""
    return int(math.exp(rng.uniform(math.log(50), math.log(25_000_000))))


def _de_amount(cents: int) -> str:
    """-1234567 -> "-12.345,67" (German thousands and decimal separators)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{frac:02d}"


def _row_stream(rows: int, seed: int) -> Iterator[tuple[int, int, bool]]:
    """(kind, signed cents, repeats the previous card payment) per row, from a random
    stream of its own, so the balances can be summed in a first pass that replays it."""
    rng = random.Random(seed * 7919 + 1)  # noqa: S311 -- seeded test data
    edges = []
    acc = 0.0
    for _, share, _ in _KINDS:
        acc += share
        edges.append(acc)
    last_card = 0
    for _ in range(rows):
        roll = rng.random()
        kind = next((i for i, edge in enumerate(edges) if roll < edge), len(edges) - 1)
        text, _, sign = _KINDS[kind]
        cents = _cents(rng)
        if text in ("Entgelt", "Zinsen", "Kartenzahlung"):
            cents = max(1, cents // 100)
        cents *= sign
        repeat = False
        if text == "Kartenzahlung":
            if last_card and rng.random() < 0.01:
                cents, repeat = last_card, True  # the same coffee twice: two real payments
            last_card = cents
        yield kind, cents, repeat


def write_csv_statement(
    path: Path, rows: int, *, seed: int = 8, progress: Callable[[int], None] | None = None
) -> FileStats:
    """A `rows`-entry CSV statement (UTF-8, `;`, CRLF, decimal comma, dd.mm.yyyy)."""
    total = sum(cents for _, cents, _ in _row_stream(rows, seed))
    opening = 12_345_678
    rng = random.Random(seed)  # noqa: S311 -- seeded test data
    parties = [(name, _iban(rng)) for name in _PARTIES]
    day_of = [YEAR_START + timedelta(days=d) for d in range(DAYS + 5)]
    end = day_of[DAYS - 1]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(["Umsatzanzeige", "Datei erstellt am: 02.01.2025 08:15"])
        writer.writerow(["IBAN", ACCOUNT_IBAN])
        writer.writerow(["Kontoname", "Geschaeftskonto"])
        writer.writerow(["Zeitraum", f"{YEAR_START:%d.%m.%Y} - {end:%d.%m.%Y}"])
        writer.writerow(["Anfangssaldo", _de_amount(opening), CURRENCY])
        writer.writerow(["Endsaldo", _de_amount(opening + total), CURRENCY])
        writer.writerow([])
        writer.writerow(
            [
                "Buchungstag",
                "Valutadatum",
                "Buchungstext",
                "Auftraggeber/Empfänger",
                "IBAN",
                "Verwendungszweck",
                "Kundenreferenz",
                "Betrag",
                "Währung",
            ]
        )
        serial = 4_700_000
        previous_card: list[str] | None = None
        write = writer.writerow
        for index, (kind, cents, repeat) in enumerate(_row_stream(rows, seed)):
            text = _KINDS[kind][0]
            if repeat and previous_card is not None:
                write(previous_card)
                continue
            day = index * DAYS // rows
            booking = day_of[day]
            roll = rng.random()
            value = "" if roll < 0.03 else f"{day_of[day + (roll < 0.2)]:%d.%m.%Y}"
            name, iban = parties[rng.randrange(len(parties))]
            reference = ""
            if text == "Kartenzahlung":
                name, iban = _MERCHANTS[rng.randrange(len(_MERCHANTS))], ""
                purpose = (
                    f"{booking:%Y-%m-%d}T{rng.randrange(8, 20):02d}:{rng.randrange(60):02d} "
                    f"Debitk.{rng.randrange(1, 9)} 2027-12"
                )
            elif text == "Entgelt":
                name, iban, purpose = "", "", "Kontofuehrungsentgelt; Buchungsposten"
            elif text == "Zinsen":
                name, iban, purpose = "", "", "Habenzinsen"
            else:
                serial += rng.randrange(1, 40)
                style = rng.random()
                if style < 0.4:
                    purpose = f"Rechnung {serial} vom {booking:%d.%m.%Y}"
                    reference = f"E2E{rng.getrandbits(48):012X}"
                elif style < 0.6:
                    ref = _rf(serial)
                    purpose = " ".join(ref[i : i + 4] for i in range(0, len(ref), 4))
                    reference = f"E2E{rng.getrandbits(48):012X}"
                elif style < 0.8:
                    purpose = f"RE {serial}; Kd-Nr. {rng.randrange(10**5, 10**6)}; Skonto 2%"
                elif style < 0.801:
                    purpose = f"Sammelzahlung\nRE {serial} und RE {serial + 1}"
                else:
                    purpose = f"Mandat M{rng.randrange(10**6):06d} Gl.-ID DE98ZZZ09999999999"
            row = [
                f"{booking:%d.%m.%Y}",
                value,
                text,
                name,
                iban,
                purpose,
                reference,
                _de_amount(cents),
                CURRENCY,
            ]
            write(row)
            if text == "Kartenzahlung":
                previous_card = row
            if progress is not None and index % 20_000 == 0:
                progress(index)
    return FileStats(path=path, rows=rows, size_bytes=path.stat().st_size)


_NTRY_SINGLE: Final = (
    '<Ntry><NtryRef>{n}</NtryRef><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd>'
    "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{booking}</Dt></BookgDt><ValDt><Dt>{value}</Dt></ValDt>"
    "<AcctSvcrRef>{svcr}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd>"
    "<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls>{details}</NtryDtls>"
    "<AddtlNtryInf>{info}</AddtlNtryInf></Ntry>\n"
)
_TX: Final = (
    "<TxDtls><Refs><InstrId>{instr}</InstrId><EndToEndId>{e2e}</EndToEndId></Refs>"
    '<Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd><RltdPties>'
    "<{role}><Pty><Nm>{name}</Nm></Pty></{role}><{role}Acct><Id><IBAN>{iban}</IBAN></Id></{role}Acct></RltdPties>"
    "<RmtInf>{remittance}</RmtInf></TxDtls>"
)


def _camt_amount(cents: int) -> str:
    whole, frac = divmod(abs(cents), 100)
    return f"{whole}.{frac:02d}"


def _camt_entries(rows: int, seed: int) -> Iterator[tuple[int, int, int]]:
    """(signed cents, detail count, statement index) per entry; replayable."""
    rng = random.Random(seed * 104729 + 3)  # noqa: S311 -- seeded test data
    for index in range(rows):
        details = 1 if rng.random() >= 0.12 else rng.randrange(2, 7)
        cents = sum(_cents(rng) // (10 if details > 1 else 1) for _ in range(details))
        sign = -1 if rng.random() < 0.55 else 1
        yield sign * cents, details, index * 12 // rows


def write_camt053(
    path: Path, rows: int, *, seed: int = 53, progress: Callable[[int], None] | None = None
) -> FileStats:
    """A camt.053.001.08 file with `rows` booked entries in 12 monthly statements."""
    sums = [0] * 12
    counts = [0] * 12
    for cents, _, statement in _camt_entries(rows, seed):
        sums[statement] += cents
        counts[statement] += 1
    rng = random.Random(seed)  # noqa: S311 -- seeded test data
    parties = [(escape(name), _iban(rng)) for name in _PARTIES]
    balance = 5_000_000
    entries = _camt_entries(rows, seed)
    serial = 9_100_000
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
            f"<BkToCstmrStmt><GrpHdr><MsgId>BENCH-CAMT-{seed}</MsgId>"
            "<CreDtTm>2025-01-02T06:00:00+01:00</CreDtTm></GrpHdr>\n"
        )
        for month in range(12):
            first = date(2024, month + 1, 1)
            last = (date(2024, month + 2, 1) if month < 11 else date(2025, 1, 1)) - timedelta(1)
            span = (last - first).days + 1
            closing = balance + sums[month]
            out.write(
                f"<Stmt><Id>BENCH-{2024}-{month + 1:02d}</Id><ElctrncSeqNb>{month + 1}"
                f"</ElctrncSeqNb><LglSeqNb>{month + 1}</LglSeqNb>"
                f"<CreDtTm>{last.isoformat()}T23:00:00+01:00</CreDtTm><FrToDt>"
                f"<FrDtTm>{first.isoformat()}T00:00:00+01:00</FrDtTm>"
                f"<ToDtTm>{last.isoformat()}T23:59:59+01:00</ToDtTm></FrToDt>"
                f"<Acct><Id><IBAN>{ACCOUNT_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
                + _balance("OPBD", balance, first)
                + _balance("CLBD", closing, last)
                + f"<TxsSummry><TtlNtries><NbOfNtries>{counts[month]}</NbOfNtries>"
                "</TtlNtries></TxsSummry>\n"
            )
            for position in range(counts[month]):
                cents, details, _ = next(entries)
                written += 1
                booking = first + timedelta(days=position * span // max(1, counts[month]))
                value = booking + timedelta(days=rng.random() < 0.2)
                credit = cents > 0
                cd = "CRDT" if credit else "DBIT"
                role = "Dbtr" if credit else "Cdtr"
                parts = _split(abs(cents), details, rng)
                blocks = []
                if details > 1:
                    blocks.append(f"<Btch><NbOfTxs>{details}</NbOfTxs></Btch>")
                for part in parts:
                    serial += rng.randrange(1, 30)
                    name, iban = parties[rng.randrange(len(parties))]
                    style = rng.random()
                    if style < 0.5:
                        remittance = f"<Ustrd>Rechnung {serial}</Ustrd>"
                    elif style < 0.8:
                        remittance = (
                            "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
                            f"<Ref>{_rf(serial)}</Ref></CdtrRefInf></Strd>"
                        )
                    else:
                        remittance = f"<Ustrd>Kd {serial} &amp; Lieferung {serial + 1}</Ustrd>"
                    blocks.append(
                        _TX.format(
                            instr=f"INSTR{serial}",
                            e2e=f"E2E{rng.getrandbits(48):012X}"
                            if rng.random() < 0.8
                            else "NOTPROVIDED",
                            amount=_camt_amount(part),
                            cd=cd,
                            role=role,
                            name=name,
                            iban=iban,
                            remittance=remittance,
                        )
                    )
                out.write(
                    _NTRY_SINGLE.format(
                        n=written,
                        amount=_camt_amount(cents),
                        cd=cd,
                        booking=booking.isoformat(),
                        value=value.isoformat(),
                        svcr=f"BNK{seed:03d}{written:010d}",
                        family="RCDT" if credit else "ICDT",
                        details="".join(blocks),
                        info="SAMMLER" if details > 1 else ("GUTSCHRIFT" if credit else "SEPA"),
                    )
                )
                if progress is not None and written % 20_000 == 0:
                    progress(written)
            out.write("</Stmt>\n")
            balance = closing
        out.write("</BkToCstmrStmt></Document>\n")
    return FileStats(path=path, rows=rows, size_bytes=path.stat().st_size)


def _balance(code: str, cents: int, day: date) -> str:
    cd = "CRDT" if cents >= 0 else "DBIT"
    return (
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">'
        f"{_camt_amount(cents)}</Amt><CdtDbtInd>{cd}</CdtDbtInd><Dt><Dt>{day.isoformat()}"
        "</Dt></Dt></Bal>"
    )


def _split(cents: int, parts: int, rng: random.Random) -> list[int]:
    """`cents` cut into `parts` positive pieces that add up exactly."""
    if parts == 1:
        return [cents]
    cuts = sorted(rng.randrange(1, max(2, cents)) for _ in range(parts - 1))
    pieces = [b - a for a, b in zip([0, *cuts], [*cuts, cents], strict=True)]
    if any(p <= 0 for p in pieces):
        base = cents // parts
        pieces = [base] * (parts - 1) + [cents - base * (parts - 1)]
    return pieces
