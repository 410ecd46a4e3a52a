"""Format detection looks at content, never at the file name."""

from __future__ import annotations

import contextlib
import gzip
import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.parsers.detect import HEAD_BYTES, detect_format
from reconciliation.parsers.types import UnsupportedFormatError
from tests.fixture_paths import FIXTURES_DIR
from tests.reconciliation.parsers.camt_builder import VERSIONS, Entry, Statement, camt053_bytes

CAMT_FILES = sorted((FIXTURES_DIR / "camt053").glob("*.xml"))
CSV_FILES = sorted((FIXTURES_DIR / "csv").glob("*.csv"))
CSV_TEXT = "Date;Amount;Text\n31.01.2024;-12,50;Müller\n"


def head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(HEAD_BYTES)


def test_the_shared_fixtures_are_there() -> None:
    assert CAMT_FILES, f"no camt.053 fixtures under {FIXTURES_DIR}"
    assert CSV_FILES, f"no CSV fixtures under {FIXTURES_DIR}"


@pytest.mark.parametrize("path", CAMT_FILES, ids=lambda path: path.stem)
def test_every_real_camt053_file_is_camt053(path: Path) -> None:
    assert detect_format(head(path)) == "camt.053"


@pytest.mark.parametrize("path", CSV_FILES, ids=lambda path: path.stem)
def test_every_real_csv_export_is_csv(path: Path) -> None:
    # Includes latin-1, cp1252 and cp1251 bytes, BOMs and CR-only line endings.
    assert detect_format(head(path)) == "csv"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("envelope", [False, True])
def test_generated_camt053_of_every_version_is_camt053(version: int, envelope: bool) -> None:
    data = camt053_bytes(
        [Statement(entries=[Entry(amount=Decimal("1.00"))])], version=version, envelope=envelope
    )
    assert detect_format(data) == "camt.053"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<Document><BkToCstmrStmt><GrpHdr/></BkToCstmrStmt></Document>", id="no-ns"),
        pytest.param(
            b'<c:Document xmlns:c="urn:x"><c:BkToCstmrStmt/></c:Document>', id="odd-ns-prefixed"
        ),
        pytest.param(
            b'\xef\xbb\xbf<?xml version="1.0"?>\n<Document xmlns='
            b'"urn:iso:std:iso:20022:tech:xsd:camt.053.001.14"/>',
            id="utf8-bom",
        ),
        pytest.param(
            b"\n\n   <!-- exported -->\n<Document xmlns="
            b'"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"/>',
            id="leading-blank-lines-and-comment",
        ),
    ],
)
def test_camt053_is_recognised_by_namespace_or_root(data: bytes) -> None:
    assert detect_format(data) == "camt.053"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_camt053_is_camt053(encoding: str) -> None:
    text = (FIXTURES_DIR / "camt053" / "genkgo-v02-multi-statement.xml").read_text("utf-8")
    assert detect_format(text.encode(encoding)[:HEAD_BYTES]) == "camt.053"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_csv_is_csv_not_binary(encoding: str) -> None:
    # UTF-16 text is full of NUL bytes: only on one byte parity, unlike binary data.
    assert detect_format(CSV_TEXT.encode(encoding)) == "csv"


def test_only_the_head_matters() -> None:
    long_csv = (CSV_TEXT * 10_000).encode()
    assert len(long_csv) > HEAD_BYTES
    # NUL bytes would make the upload binary (415) if detection looked past its head.
    assert detect_format(long_csv + b"\x00" * 10_000) == "csv"
    assert detect_format(long_csv[:HEAD_BYTES] + b"PK\x03\x04" + b"\x00" * 10_000) == "csv"


def zipped() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("statement.csv", CSV_TEXT)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "what"),
    [
        pytest.param(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF", id="pdf"),
        pytest.param(zipped(), "zip", id="zip-or-xlsx"),
        pytest.param(gzip.compress(CSV_TEXT.encode()), "gzip", id="gzip"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "Office", id="xls"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG", id="png"),
        pytest.param(bytes(range(256)) * 4, "binary", id="binary"),
        pytest.param(b"\x01\x02\x03\x04abc\x05\x06\x07\x08" * 50, "binary", id="control-chars"),
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b" \r\n\t\n  ", "empty", id="whitespace"),
        pytest.param(b"\xef\xbb\xbf\r\n", "empty", id="bom-only"),
        pytest.param("\n\n".encode("utf-16"), "empty", id="utf16-whitespace"),
    ],
)
def test_non_statements_are_unsupported(data: bytes, what: str) -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        detect_format(data)
    assert what in str(caught.value)
    assert caught.value.code == "unsupported_format"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
            b'pain.001.001.09"><CstmrCdtTrfInitn/></Document>',
            id="pain.001",
        ),
        pytest.param(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08">'
            b"<BkToCstmrAcctRpt/></Document>",
            id="camt.052",
        ),
        pytest.param(
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
            b"<BkToCstmrDbtCdtNtfctn/></Document>",
            id="camt.054",
        ),
        pytest.param(b"<?xml version='1.0'?><OFX><BANKMSGSRSV1/></OFX>", id="ofx-xml"),
        pytest.param(b"<html><body>Login</body></html>", id="html"),
        pytest.param(b"<!DOCTYPE html><html></html>", id="html5"),
    ],
)
def test_xml_that_is_not_camt053_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedFormatError) as caught:
        detect_format(data)
    assert "not camt.053" in str(caught.value) or "HTML" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "Buchungstag;Betrag\n01.02.2024;1,00\n",
        '"Date","Amount"\r\n"2024-01-31","-12.50"\r\n',
        "Konto: DE89 3704 0044 0532 0130 00\nZeitraum: Januar\n\nDatum\tBetrag\n",
        "{not json, not xml}",
        "a < b, c > d\n1,2\n",
    ],
)
def test_other_text_is_handed_to_the_csv_parser(text: str) -> None:
    assert detect_format(text.encode("cp1252")) == "csv"


@settings(deadline=None)
@given(data=st.binary(max_size=HEAD_BYTES + 100))
def test_arbitrary_bytes_are_csv_camt053_or_unsupported(data: bytes) -> None:
    result = None
    with contextlib.suppress(UnsupportedFormatError):
        result = detect_format(data)
    assert result in {None, "csv", "camt.053"}
