"""Writes camt.053 XML for tests and benchmarks, as a stream of byte chunks.

`camt053_chunks()` never holds the document: give it a generator of entries and it can
write a 1,000,000-entry statement straight into a file (or into the parser through
`ChunkReader`) in constant memory. The element order follows each version's XSD, so the
output of every version 02..14 validates (see test_camt053.py), and the version-specific
shapes the parser must understand are all produced: `Sts` as text (v02-v06) or `Sts/Cd`
(v07+), parties as `Dbtr/Nm` (v02-v06) or `Dbtr/Pty/Nm` (v07+), transaction amounts in
`AmtDtls/TxAmt` (v02) or `TxDtls/Amt` + `CdtDbtInd` (v03+), charges as repeated `Chrgs/Amt`
(v02) or `Chrgs/Rcrd/Amt` (v03+).

Amounts are given unsigned with a direction, as camt writes them.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Final
from xml.sax.saxutils import escape

VERSIONS: Final = tuple(range(2, 15))
CHUNK_SIZE: Final = 64 * 1024
OWN_NAME: Final = "OWN ACCOUNT HOLDER AG"
OWN_IBAN: Final = "CH9300762011623852957"
_ISO_REFERENCE_CODES: Final = frozenset({"RADM", "RPIN", "FXDR", "DISP", "PUOR", "SCOR"})


def namespace(version: int) -> str:
    return f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version:02d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Detail:
    """One TxDtls. `credit=None` inherits the entry's direction."""

    amount: Decimal | None = None
    currency: str = "EUR"
    credit: bool | None = None
    end_to_end_id: str | None = None
    instruction_id: str | None = None
    creditor_reference: str | None = None
    creditor_reference_type: str | None = None
    remittance: tuple[str, ...] = ()  # Ustrd lines
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    charges: tuple[Decimal, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One Ntry. `booking_time` (e.g. "23:30:00-05:00") writes BookgDt/DtTm instead of Dt."""

    amount: Decimal
    currency: str = "EUR"
    credit: bool = True
    reversal: bool | None = None  # None: no RvslInd element at all
    status: str | None = "BOOK"  # None: no Sts element at all
    booking_date: date | None = date(2024, 1, 31)
    booking_time: str | None = None
    value_date: date | None = None
    bank_reference: str | None = None
    entry_reference: str | None = None
    domain_code: tuple[str, str, str] | None = None  # ("PMNT", "RCDT", "ESCT")
    proprietary_code: str | None = None
    description: str | None = None
    batch_count: int | None = None
    details: tuple[Detail, ...] = ()
    charges: tuple[Decimal, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    """One Stmt. `entries` may be a generator: it is consumed once, while writing."""

    statement_id: str = "STMT-1"
    iban: str | None = OWN_IBAN
    other_id: str | None = None
    currency: str | None = "EUR"
    electronic_sequence: int | None = None
    legal_sequence: int | None = None
    created: str = "2024-01-31T18:00:00+01:00"
    period: tuple[str, str] | None = None  # FrDtTm, ToDtTm
    opening: Decimal | None = Decimal("0.00")  # signed
    opening_code: str = "OPBD"
    opening_date: date = date(2024, 1, 30)
    closing: Decimal | None = None  # signed; None: no closing balance element
    closing_date: date = date(2024, 1, 31)
    entries: Iterable[Entry] = ()


def _text(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


def _amount(name: str, value: Decimal, currency: str) -> str:
    return f'<{name} Ccy="{currency}">{format(value, "f")}</{name}>'


def _direction(credit: bool) -> str:
    return _text("CdtDbtInd", "CRDT" if credit else "DBIT")


def _balance(code: str, signed: Decimal, currency: str, on: date) -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f"{_amount('Amt', abs(signed), currency)}{_direction(signed >= 0)}"
        f"<Dt><Dt>{on.isoformat()}</Dt></Dt></Bal>"
    )


def _party(version: int, role: str, name: str | None, iban: str | None) -> str:
    out = ""
    if name is not None:
        inner = _text("Nm", name)
        out += f"<{role}>{f'<Pty>{inner}</Pty>' if version >= 7 else inner}</{role}>"
    if iban is not None:
        out += f"<{role}Acct><Id><IBAN>{escape(iban)}</IBAN></Id></{role}Acct>"
    return out


def _charges(version: int, amounts: tuple[Decimal, ...], currency: str) -> str:
    if not amounts:
        return ""
    if version == 2:
        return "".join(f"<Chrgs>{_amount('Amt', amount, currency)}</Chrgs>" for amount in amounts)
    records = "".join(f"<Rcrd>{_amount('Amt', amount, currency)}</Rcrd>" for amount in amounts)
    return f"<Chrgs>{records}</Chrgs>"


def _detail(version: int, detail: Detail, entry: Entry) -> str:
    credit = entry.credit if detail.credit is None else detail.credit
    out = "<TxDtls>"
    refs = ""
    if detail.instruction_id is not None:
        refs += _text("InstrId", detail.instruction_id)
    if detail.end_to_end_id is not None:
        refs += _text("EndToEndId", detail.end_to_end_id)
    if refs:
        out += f"<Refs>{refs}</Refs>"
    if detail.amount is not None:
        if version == 2:
            amount = _amount("Amt", detail.amount, detail.currency)
            out += f"<AmtDtls><TxAmt>{amount}</TxAmt></AmtDtls>"
        else:
            out += _amount("Amt", detail.amount, detail.currency) + _direction(credit)
    out += _charges(version, detail.charges, detail.currency)
    # The counterparty goes where the parser must look for it; the account holder fills
    # the other role, so reading the wrong role is caught.
    if detail.counterparty_name is not None or detail.counterparty_iban is not None:
        received = credit != bool(entry.reversal)
        them = _party(
            version,
            "Dbtr" if received else "Cdtr",
            detail.counterparty_name,
            detail.counterparty_iban,
        )
        us = _party(version, "Cdtr" if received else "Dbtr", OWN_NAME, OWN_IBAN)
        out += f"<RltdPties>{them + us if received else us + them}</RltdPties>"
    remittance = "".join(_text("Ustrd", line) for line in detail.remittance)
    if detail.creditor_reference is not None:
        kind = detail.creditor_reference_type
        reference_type = ""
        if kind is not None:
            tag = "Cd" if kind in _ISO_REFERENCE_CODES else "Prtry"
            reference_type = f"<Tp><CdOrPrtry>{_text(tag, kind)}</CdOrPrtry></Tp>"
        remittance += (
            f"<Strd><CdtrRefInf>{reference_type}"
            f"{_text('Ref', detail.creditor_reference)}</CdtrRefInf></Strd>"
        )
    if remittance:
        out += f"<RmtInf>{remittance}</RmtInf>"
    return out + "</TxDtls>"


def _entry(version: int, entry: Entry) -> str:
    out = "<Ntry>"
    if entry.entry_reference is not None:
        out += _text("NtryRef", entry.entry_reference)
    out += _amount("Amt", entry.amount, entry.currency) + _direction(entry.credit)
    if entry.reversal is not None:
        out += _text("RvslInd", "true" if entry.reversal else "false")
    if entry.status is not None:
        out += (
            _text("Sts", entry.status) if version < 7 else f"<Sts>{_text('Cd', entry.status)}</Sts>"
        )
    if entry.booking_date is not None:
        if entry.booking_time is not None:
            stamp = f"{entry.booking_date.isoformat()}T{entry.booking_time}"
            out += f"<BookgDt><DtTm>{stamp}</DtTm></BookgDt>"
        else:
            out += f"<BookgDt><Dt>{entry.booking_date.isoformat()}</Dt></BookgDt>"
    if entry.value_date is not None:
        out += f"<ValDt><Dt>{entry.value_date.isoformat()}</Dt></ValDt>"
    if entry.bank_reference is not None:
        out += _text("AcctSvcrRef", entry.bank_reference)
    code = ""
    if entry.domain_code is not None:
        domain, family, sub_family = entry.domain_code
        code += (
            f"<Domn>{_text('Cd', domain)}<Fmly>{_text('Cd', family)}"
            f"{_text('SubFmlyCd', sub_family)}</Fmly></Domn>"
        )
    if entry.proprietary_code is not None:
        code += f"<Prtry>{_text('Cd', entry.proprietary_code)}</Prtry>"
    out += f"<BkTxCd>{code}</BkTxCd>"
    out += _charges(version, entry.charges, entry.currency)
    if entry.batch_count is not None or entry.details:
        out += "<NtryDtls>"
        if entry.batch_count is not None:
            out += f"<Btch><NbOfTxs>{entry.batch_count}</NbOfTxs></Btch>"
        out += "".join(_detail(version, detail, entry) for detail in entry.details)
        out += "</NtryDtls>"
    if entry.description is not None:
        out += _text("AddtlNtryInf", entry.description)
    return out + "</Ntry>"


def _statement_head(version: int, statement: Statement) -> str:
    out = "<Stmt>" + _text("Id", statement.statement_id)
    if statement.electronic_sequence is not None:
        out += _text("ElctrncSeqNb", str(statement.electronic_sequence))
    if statement.legal_sequence is not None:
        out += _text("LglSeqNb", str(statement.legal_sequence))
    out += _text("CreDtTm", statement.created)
    if statement.period is not None:
        start, end = statement.period
        out += f"<FrToDt>{_text('FrDtTm', start)}{_text('ToDtTm', end)}</FrToDt>"
    account = (
        f"<IBAN>{escape(statement.iban)}</IBAN>"
        if statement.iban is not None
        else f"<Othr>{_text('Id', statement.other_id or 'UNKNOWN')}</Othr>"
    )
    out += f"<Acct><Id>{account}</Id>"
    if statement.currency is not None:
        out += _text("Ccy", statement.currency)
    out += "</Acct>"
    currency = statement.currency or "EUR"
    if statement.opening is not None:
        out += _balance(statement.opening_code, statement.opening, currency, statement.opening_date)
    if statement.closing is not None:
        out += _balance("CLBD", statement.closing, currency, statement.closing_date)
    return out


def camt053_chunks(
    statements: Iterable[Statement],
    *,
    version: int = 8,
    envelope: bool = False,
    encoding: str = "UTF-8",
    message_id: str = "MSG-1",
    created: str = "2024-01-31T18:00:00+01:00",
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """The document as byte chunks of about `chunk_size`, in `encoding` (BOM included)."""
    if version not in VERSIONS:
        raise ValueError(f"camt.053.001.{version:02d} does not exist")
    encoder = codecs.getincrementalencoder(encoding)()
    buffer: list[str] = []
    size = 0

    def emit(text: str) -> Iterator[bytes]:
        nonlocal size
        buffer.append(text)
        size += len(text)
        if size >= chunk_size:
            data = encoder.encode("".join(buffer))
            buffer.clear()
            size = 0
            yield data

    yield from emit(f'<?xml version="1.0" encoding="{encoding}"?>\n')
    if envelope:
        yield from emit(
            '<message><AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.01">'
            f"<BizMsgIdr>{escape(message_id)}</BizMsgIdr>"
            f"<MsgDefIdr>camt.053.001.{version:02d}</MsgDefIdr>"
            f"<CreDt>{created}</CreDt></AppHdr>"
        )
    yield from emit(
        f'<Document xmlns="{namespace(version)}"><BkToCstmrStmt><GrpHdr>'
        f"{_text('MsgId', message_id)}{_text('CreDtTm', created)}</GrpHdr>"
    )
    for statement in statements:
        yield from emit(_statement_head(version, statement))
        for entry in statement.entries:
            yield from emit(_entry(version, entry) + "\n")
        yield from emit("</Stmt>")
    yield from emit("</BkToCstmrStmt></Document>" + ("</message>" if envelope else "") + "\n")
    yield encoder.encode("".join(buffer), final=True)


def camt053_bytes(statements: Iterable[Statement], **options: object) -> bytes:
    """The whole document at once: for small test files only."""
    return b"".join(camt053_chunks(statements, **options))  # type: ignore[arg-type]


class ChunkReader:
    """A read-only binary stream over byte chunks, so a generated file needs no disk."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data = self._buffer + b"".join(self._chunks)
            self._buffer = b""
            return data
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
