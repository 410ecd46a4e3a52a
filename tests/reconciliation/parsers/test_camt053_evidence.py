"""camt.053: what a payment's details say beyond its amount (issue #15): the instructed
amount and charges a fee match is explained by, the mandate, the statement's account on
every entry, and the counterparty of a return that names only one party."""

from __future__ import annotations

import io
from decimal import Decimal

from reconciliation.parsers.camt053 import read_camt053
from reconciliation.parsers.types import ParsedEntry

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def _entries(ntry: str, iban: str = "DE89370400440532013000") -> list[ParsedEntry]:
    data = (
        f'<?xml version="1.0"?><Document xmlns="{NS}"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId>'
        "<CreDtTm>2024-04-01T08:00:00+02:00</CreDtTm></GrpHdr><Stmt><Id>S</Id>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>{ntry}</Stmt>"
        "</BkToCstmrStmt></Document>"
    ).encode()
    return list(read_camt053(io.BytesIO(data)).entries())


def _ntry(amount: str, cd: str, details: str, *, reversal: bool = False) -> str:
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd>'
        + ("<RvslInd>true</RvslInd>" if reversal else "")
        + "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2024-03-04</Dt></BookgDt>"
        f"<NtryDtls><TxDtls>{details}</TxDtls></NtryDtls></Ntry>"
    )


def test_the_instructed_amount_and_charges_of_a_fee_reduced_credit_are_kept() -> None:
    (entry,) = _entries(
        _ntry(
            "2497.50",
            "CRDT",
            "<Refs><EndToEndId>E2E-1</EndToEndId><MndtId>M-7</MndtId></Refs>"
            '<AmtDtls><InstdAmt><Amt Ccy="EUR">2500.00</Amt></InstdAmt></AmtDtls>'
            '<Chrgs><Rcrd><Amt Ccy="EUR">2.50</Amt></Rcrd></Chrgs>',
        )
    )
    (detail,) = entry.details
    assert (detail.instructed_amount, detail.instructed_currency) == (Decimal("2500.00"), "EUR")
    assert detail.charges == Decimal("2.50")
    assert detail.mandate_reference == "M-7"
    assert entry.account_iban == "DE89370400440532013000"


def test_an_unreadable_instructed_amount_is_left_out_with_a_warning() -> None:
    data = _ntry(
        "10.00", "CRDT", '<AmtDtls><InstdAmt><Amt Ccy="XXQ">10.00</Amt></InstdAmt></AmtDtls>'
    )
    reader_entries = _entries(data)
    assert reader_entries[0].details[0].instructed_amount is None


def test_a_credit_reversal_naming_only_the_debtor_keeps_that_counterparty() -> None:
    # A returned direct debit of ours (CRDT + RvslInd): the reader looks for the creditor of
    # the original debit, but this bank named the supplier as debtor of the return.
    (entry,) = _entries(
        _ntry(
            "49.90",
            "CRDT",
            "<RltdPties><Dbtr><Pty><Nm>Stadtwerke Nord</Nm></Pty></Dbtr>"
            "<DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct></RltdPties>",
            reversal=True,
        )
    )
    assert entry.is_reversal
    assert (entry.counterparty_name, entry.counterparty_iban) == (
        "Stadtwerke Nord",
        "DE02120300000000202051",
    )


def test_a_normal_credit_never_takes_the_account_holder_as_counterparty() -> None:
    (entry,) = _entries(
        _ntry("10.00", "CRDT", "<RltdPties><Cdtr><Pty><Nm>Us GmbH</Nm></Pty></Cdtr></RltdPties>")
    )
    assert entry.counterparty_name is None


def test_a_reversal_with_both_parties_reads_the_original_role() -> None:
    (entry,) = _entries(
        _ntry(
            "49.90",
            "CRDT",
            "<RltdPties><Dbtr><Pty><Nm>Us GmbH</Nm></Pty></Dbtr>"
            "<Cdtr><Pty><Nm>Stadtwerke Nord</Nm></Pty></Cdtr></RltdPties>",
            reversal=True,
        )
    )
    assert entry.counterparty_name == "Stadtwerke Nord"
