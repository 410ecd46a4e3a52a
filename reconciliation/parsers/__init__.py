"""Statement parsers: bytes in, frozen dataclasses out, streaming, no Django.

Design overview
---------------

Entities (all in `types.py`): a parser returns a `StatementReader` whose `entries()` yields
one `ParsedEntry` per bank booking (a camt `Ntry` or a CSV data row), each carrying its
`TransactionDetail`s (camt `TxDtls`: the single payments inside a batch booking, so the
matcher can pair one bank entry with many ledger entries). One `StatementInfo` per
statement (camt `Stmt`, or the whole CSV file) holds the account, sequence numbers,
period, opening/closing balances and the count and signed sum of the imported entries.
`ParseWarning`s record what was tolerated (missing status, balance without direction,
excess precision, skipped pending entries); `ParseError` (with line, row or element path)
and its subclass `UnsupportedFormatError` are the only exceptions bad input may raise.

Modules: `detect.py` picks the format from the first bytes (never the file name);
`camt053.py` reads ISO 20022 camt.053 (all versions .02-.14) through `xmlsafe.py`, the only
way XML is parsed here; `csv_statement.py` reads bank CSV exports.

Sign convention: `amount` is signed from the account holder's view, + money in, - money
out. Each parser converts the bank's convention exactly once (camt `CdtDbtInd`, CSV
debit/credit columns, CR/DR, trailing minus, parentheses); nothing downstream looks at a
direction flag again. A camt reversal (`RvslInd`) is flagged, not sign-flipped:
`CdtDbtInd` already says which way the money moved.

Money: `Decimal` built from the file's text via `ledgers.money`, never a float; more
decimals than the currency allows are kept exactly and flagged (`excess_precision`),
never rounded.

Streaming: nothing reads a whole upload. Entries are produced lazily, so a million-entry
file never sits in memory; statement metadata and warnings are complete once `entries()`
is exhausted (warnings of one kind are capped, with a count of the rest). camt.053 is
parsed with lxml `iterparse`, and each processed element is cleared and unlinked.

Safety: uploads are hostile until proven otherwise. XML is parsed with entity resolution,
network access and DTD loading off, any DOCTYPE is refused before libxml2 sees it, and
nesting depth and text-node size are capped (see `xmlsafe.py`); every error quotes at most
a short snippet of the file. No Django import here: the calling service adapts these
values to the ORM and owns the transaction.
"""
