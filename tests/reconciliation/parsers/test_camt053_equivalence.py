"""camt.053 reader on odd documents: every field it yields, written out to be read.

The documents written out here exercise what the real bank files do not: repeated and
misplaced elements, mixed namespaces, every status and date shape, charges in both layouts,
reversals, fallbacks and each kind of error. `expected/camt053-documents/<name>.json` holds
the whole outcome of each, booked entries only and with pending ones: every entry (fields
at their default left out), the statements, the warnings with their lines and messages,
or the error with its code, line and element path. Those files were first written when
this output was proven identical to the reader before its speed rewrite (commit a10233e,
then pinned as digests). A deliberate change of the reader's output changes them: rewrite
them with `python -m tests.reconciliation.parsers.test_camt053_equivalence` and read the
diff; never to "fix" a test.

The real bank files' output is pinned in `test_camt053.py` against hand-read
`expected/camt053/<file>.json`: counts, every amount and bank reference, first and last
entry, statement metadata, balance continuity, warning kinds and each file's notable
feature.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgers.money import MINOR_UNITS, AmountError, parse_amount
from reconciliation.parsers.camt053 import _AMOUNT_RE, _exact_amount, read_camt053
from reconciliation.parsers.types import ParsedEntry, ParseError

EXPECTED_DIR = Path(__file__).resolve().parent / "expected" / "camt053-documents"


def plain(value: Any) -> Any:
    """JSON for a parser value: Decimals as written (exponent kept), dates as ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.default is dataclasses.MISSING or getattr(value, field.name) != field.default
        }
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, Decimal | date):
        return str(value)
    return value


def outcome(data: bytes, *, include_pending: bool) -> dict[str, Any]:
    reader = read_camt053(io.BytesIO(data), include_pending=include_pending)
    entries: list[ParsedEntry] = []
    error = None
    try:
        entries.extend(reader.entries())
    except ParseError as exc:
        error = {"code": exc.code, "line": exc.line, "element": exc.element, "message": str(exc)}
    return {
        "entries": plain(entries),
        "error": error,
        "statements": plain(reader.statements),
        "warnings": plain(reader.warnings),
    }


def expectation(data: bytes) -> dict[str, Any]:
    booked = outcome(data, include_pending=False)
    pending = outcome(data, include_pending=True)
    return {
        "booked_only": booked,
        "with_pending": "same as booked_only" if pending == booked else pending,
    }


NS8 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
NS2 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
HEAD = "<GrpHdr><MsgId>M</MsgId><CreDtTm>2024-02-01T09:00:00+01:00</CreDtTm></GrpHdr>"


def document(statements: str, *, namespace: str = NS8, head: str = HEAD) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{namespace}">'
        f"<BkToCstmrStmt>{head}{statements}</BkToCstmrStmt></Document>\n"
    ).encode()


BOOK = "<Sts><Cd>BOOK</Cd></Sts>"
DAY = "<BookgDt><Dt>2024-01-31</Dt></BookgDt>"
ACCOUNT = "<Acct><Id><IBAN>CH9300762011623852957</IBAN></Id><Ccy>EUR</Ccy></Acct>"
OPENING = (
    '<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt>'
    "<CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2024-01-01</Dt></Dt></Bal>"
)


def ntry(body: str) -> str:
    return f"\n<Ntry>{body}</Ntry>"


ONE_EUR = ntry('<Amt Ccy="EUR">1</Amt><CdtDbtInd>CRDT</CdtDbtInd>')
NO_CURRENCY = ntry("<Amt>1</Amt><CdtDbtInd>CRDT</CdtDbtInd>")


ODD_ENTRIES = "".join(
    [
        # Repeated children: the first of each name counts.
        ntry(
            '<Amt Ccy="EUR">1.00</Amt><Amt Ccy="EUR">9.99</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
            f"<CdtDbtInd>DBIT</CdtDbtInd>{BOOK}<Sts><Cd>INFO</Cd></Sts>{DAY}"
            "<AcctSvcrRef> REF-1 </AcctSvcrRef><AcctSvcrRef>REF-2</AcctSvcrRef>"
            "<NtryRef/><AddtlNtryInf>  </AddtlNtryInf>"
            "<NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch><Btch><NbOfTxs>x</NbOfTxs></Btch>"
            "<TxDtls><Refs><EndToEndId>notprovided</EndToEndId><InstrId>I-1</InstrId>"
            '<InstrId>I-2</InstrId></Refs><Amt Ccy="EUR">0.40</Amt><CdtDbtInd>DBIT</CdtDbtInd>'
            "<RltdPties><Cdtr><Nm>Paid One</Nm></Cdtr><Dbtr><Pty><Nm> </Nm><Nm>Second</Nm>"
            "</Pty></Dbtr><DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct>"
            "</RltdPties><RmtInf><Ustrd>a</Ustrd><Ustrd> </Ustrd><Ustrd>b</Ustrd>"
            "<Strd><CdtrRefInf><Ref> </Ref></CdtrRefInf><CdtrRefInf><Tp><CdOrPrtry>"
            "<Prtry>QRR</Prtry></CdOrPrtry></Tp><Ref>210000000003139471430009017</Ref>"
            "</CdtrRefInf></Strd></RmtInf></TxDtls>"
            '<TxDtls><Amt Ccy="EUR">0.60</Amt></TxDtls></NtryDtls>'
            "<NtryDtls><TxDtls><AmtDtls><TxAmt><Amt>0.10</Amt></TxAmt></AmtDtls>"
            "<Chrgs><Amt Ccy='EUR'>0.01</Amt></Chrgs><Chrgs><Amt>0.02</Amt></Chrgs>"
            "</TxDtls></NtryDtls>"
            "<Chrgs><TtlChrgsAndTaxAmt Ccy='EUR'>0.50</TtlChrgsAndTaxAmt><Rcrd>"
            "<Amt Ccy='EUR'>9</Amt></Rcrd></Chrgs><Chrgs><Rcrd><Amt Ccy='EUR'>0.25</Amt>"
            "</Rcrd><Rcrd/><Rcrd><Amt Ccy='EUR'>0.25</Amt></Rcrd></Chrgs>"
        ),
        # Statement parts between entries are read in document order.
        '\n<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">5.00</Amt>'
        "<CdtDbtInd>DBIT</CdtDbtInd><Dt><DtTm>2024-01-31T23:30:00-05:00</DtTm></Dt></Bal>",
        '\n<Bal><Tp><CdOrPrtry><Cd>clbd</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">6.00</Amt></Bal>',
        # Mixed namespaces and prefixes inside one entry.
        '\n<x:Ntry xmlns:x="urn:other"><x:Amt Ccy="jpy">7</x:Amt><CdtDbtInd>dbit</CdtDbtInd>'
        '<Sts xmlns="urn:v02">book</Sts><x:RvslInd>true</x:RvslInd>'
        "<BookgDt><DtTm>2024-02-29T00:00:00Z</DtTm></BookgDt><ValDt><Dt>2024-03-01+02:00</Dt>"
        "</ValDt><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>"
        "<Prtry><Cd>IGNORED</Cd></Prtry></BkTxCd>"
        "<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Original Debtor</Nm></Dbtr><Cdtr><Nm>Us</Nm>"
        "</Cdtr></RltdPties><RmtInf><Ustrd>only</Ustrd></RmtInf></TxDtls></NtryDtls>"
        "</x:Ntry>",
        # Status shapes, a reversal indicator that is not a boolean, proprietary codes.
        ntry(
            '<Amt Ccy="EUR">2.005</Amt><CdtDbtInd>CRDT</CdtDbtInd><RvslInd>maybe</RvslInd>'
            "<Sts><Prtry>book</Prtry></Sts><BkTxCd><Domn><Cd> </Cd></Domn><Prtry><Cd>P-1</Cd>"
            "</Prtry></BkTxCd>"
        ),
        ntry(f'<Amt Ccy="EUR">3.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>PDNG</Sts>{DAY}'),
        ntry('<Amt Ccy="EUR">3.50</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>FUTR</Cd></Sts>'),
        ntry(f'<Amt Ccy="EUR">4.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>INFO</Sts>{DAY}'),
        ntry(f'<Amt Ccy="EUR">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>ODD</Sts>{DAY}'),
        ntry('<Amt Ccy="USD">6.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts/>'),
        ntry(f'<Amt Ccy="EUR">+.5</Amt><CdtDbtInd>CRDT</CdtDbtInd>{BOOK}<RvslInd>1</RvslInd>'),
        ntry(
            '<Amt Ccy="EUR">0.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><ValDt><Dt>2024-01-05</Dt>'
            "</ValDt><BookgDt/><NtryDtls><TxDtls><Amt Ccy='EUR'>0</Amt><CdtDbtInd>DBIT"
            "</CdtDbtInd><RltdPties><Cdtr><Pty><Nm>Wrapped</Nm></Pty></Cdtr><CdtrAcct><Id>"
            "<Othr><Id>1</Id></Othr></Id></CdtrAcct></RltdPties><RmtInf><Ustrd>"
            + "r" * 300
            + "</Ustrd></RmtInf></TxDtls><TxDtls><RmtInf><Ustrd>"
            + "s" * 300
            + "</Ustrd></RmtInf></TxDtls></NtryDtls>"
        ),
        # Not entries: a Ntry below another element, a Stmt below an entry.
        "\n<Junk><Ntry><Amt>1</Amt></Ntry></Junk>",
        ntry(
            f'<Amt Ccy="EUR">8.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>{BOOK}{DAY}'
            "<Stmt><Id>inner</Id></Stmt><Ntry><Amt>2</Amt></Ntry>"
        ),
    ]
)

PARTS = (
    "<Id> S-1 </Id><ElctrncSeqNb>1.5</ElctrncSeqNb><LglSeqNb>+7</LglSeqNb>"
    "<CreDtTm>not a date</CreDtTm><FrToDt><FrDt>2024-01-01</FrDt>"
    "<ToDtTm>2024-01-31T24:00:00</ToDtTm></FrToDt>"
    "<Acct><Id><Othr><Id>ACC-1</Id></Othr></Id><Ccy>XXQ</Ccy></Acct>"
    '<Bal><Tp><CdOrPrtry><Prtry>PRCD</Prtry></CdOrPrtry></Tp><Amt Ccy="CHF">1</Amt>'
    "</Bal>" + OPENING + OPENING.replace("100.00", "1.001")
)

DOCUMENTS = {
    "odd-entries": document(f"<Stmt>{PARTS}{ODD_ENTRIES}</Stmt>"),
    "two-statements-and-an-unclosed-one": document(
        f"<Stmt><Id>A</Id>{ACCOUNT}{ONE_EUR}"
        "</Stmt><Stmt><Id>B</Id><Stmt><Id>nested</Id></Stmt></Stmt>"
        + f"<Stmt><Id>C</Id>{NO_CURRENCY}</Stmt>"
    ),
    "no-date-to-fall-back-on": document(
        f"<Stmt><Id>D</Id>{ONE_EUR}</Stmt>",
        head="<GrpHdr/>",
    ),
    "v02-entry-without-currency": document(
        f"<Stmt><Id>E</Id>{ACCOUNT}{NO_CURRENCY}</Stmt>",
        namespace=NS2,
    ),
    "bad-detail-amount": document(
        f"<Stmt>{ACCOUNT}"
        + ntry(
            f'<Amt Ccy="EUR">1</Amt><CdtDbtInd>CRDT</CdtDbtInd>{BOOK}{DAY}<NtryDtls><TxDtls/>'
            '</NtryDtls><NtryDtls><TxDtls/><TxDtls><Amt Ccy="EUR">1e3</Amt></TxDtls>'
            "</NtryDtls>"
        )
        + "</Stmt>"
    ),
    "bad-charges-amount": document(
        f"<Stmt>{ACCOUNT}"
        + ntry(
            f'<Amt Ccy="EUR">1</Amt><CdtDbtInd>CRDT</CdtDbtInd>{BOOK}{DAY}'
            '<Chrgs><Rcrd><Amt Ccy="EUR">1</Amt></Rcrd><Rcrd><Amt Ccy="EUR"> </Amt></Rcrd>'
            "</Chrgs>"
        )
        + "</Stmt>"
    ),
    "too-large-amount": document(
        f"<Stmt>{ACCOUNT}"
        + ntry(f'<Amt Ccy="EUR">1000000000000000000</Amt><CdtDbtInd>CRDT</CdtDbtInd>{BOOK}')
        + "</Stmt>"
    ),
    "too-precise-amount": document(
        f"<Stmt>{ACCOUNT}"
        + ntry(f'<Amt Ccy="EUR">0.0000001</Amt><CdtDbtInd>CRDT</CdtDbtInd>{BOOK}')
        + "</Stmt>"
    ),
    "bad-balance-date": document(
        f"<Stmt>{ACCOUNT}{OPENING.replace('<Dt>2024-01-01</Dt></Dt>', '<DtTm>x</DtTm></Dt>')}"
        "</Stmt>"
    ),
    "bad-balance-direction": document(f"<Stmt>{ACCOUNT}{OPENING.replace('CRDT', 'UP')}</Stmt>"),
    "bad-period": document("<Stmt><FrToDt><ToDt>31.01.2024</ToDt></FrToDt></Stmt>"),
    "balance-without-amount": document(
        "<Stmt><Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp></Bal></Stmt>"
    ),
    "amount-without-any-currency": document(f"<Stmt>{NO_CURRENCY}</Stmt>"),
}


def write_expectations() -> None:
    """Rewrite expected/camt053-documents/ from the reader as it is now (read the diff)."""
    EXPECTED_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in DOCUMENTS.items():
        text = json.dumps(expectation(data), indent=2, ensure_ascii=False)
        (EXPECTED_DIR / f"{name}.json").write_text(text + "\n", encoding="utf-8")


def test_every_odd_document_has_its_expectation_and_no_other() -> None:
    assert sorted(path.stem for path in EXPECTED_DIR.glob("*.json")) == sorted(DOCUMENTS)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_odd_documents_read_as_expected(name: str) -> None:
    want = json.loads((EXPECTED_DIR / f"{name}.json").read_text(encoding="utf-8"))
    assert expectation(DOCUMENTS[name]) == want


# --- the amount shortcut ------------------------------------------------------------------

AMOUNT_TEXT = st.from_regex(
    re.compile(r"\+?(?:0{0,3}[0-9]{0,20}(?:\.[0-9]{0,10}0{0,3})?|\.[0-9]{1,10})"), fullmatch=True
).filter(lambda text: _AMOUNT_RE.fullmatch(text) is not None)


@given(text=AMOUNT_TEXT, currency=st.sampled_from(sorted(MINOR_UNITS)))
def test_the_amount_shortcut_agrees_with_parse_amount(text: str, currency: str) -> None:
    try:
        expected: tuple[Decimal, bool] | str = parse_amount(text, currency)
    except AmountError as exc:
        expected = str(exc)
    try:
        got: tuple[Decimal, bool] | str = _exact_amount(text, currency)
    except AmountError as exc:
        got = str(exc)
    assert got == expected
    assert repr(got) == repr(expected)  # same digits and exponent, not only equal values


if __name__ == "__main__":
    write_expectations()
