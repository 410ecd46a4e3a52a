"""The report as files: CSV (stdlib csv), XLSX (openpyxl) and PDF (fpdf2).

Each renders the report's JSON body (live or frozen alike), so a file always says what
the API says. Money: decimal strings in CSV (as in the JSON), numbers with the currency's
decimals in XLSX (so a spreadsheet can add them up), the formatted amount in the PDF.
Text that came from a bank file or the GL is escaped against formula injection in CSV
and written as text cells (never formulas) in XLSX.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any, Final

from ledgers.money import is_known_currency, minor_units
from reconciliation.parsers.csv_export import escape_csv_cell
from reconciliation.report.statement import SECTION_NAMES, flat_rows

FORMATS: Final = ("csv", "xlsx", "pdf")
CONTENT_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}

DETAIL_COLUMNS: Final = (
    "section",
    "type",
    "id",
    "date",
    "amount",
    "currency",
    "text",
    "external_id",
    "close_reason",
    "close_note",
    "closed_by",
    "closed_at",
)


def summary_lines(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(label, amount) lines of the statement, in the order it is read."""
    return [
        ("Balance per bank statement", body["bank_closing_balance"]),
        ("Add: deposits in transit", body["deposits_in_transit"]["total"]),
        ("Less: unpresented payments", body["unpresented_payments"]["total"]),
        ("Adjusted bank balance", body["adjusted_bank_balance"]),
        ("Balance per books", body["book"]["balance"]),
        ("Add/less: bank items not in the books", body["bank_only"]["total"]),
        ("Add/less: differences of partial matches", body["partial_differences"]["total"]),
        ("Add/less: bank items closed by a person", body["closed_items"]["total"]),
        (
            "Add: matched GL entries outside the book balance",
            body["matched_outside_book"]["total"],
        ),
        ("Adjusted book balance", body["adjusted_book_balance"]),
        ("Difference", body["difference"]),
    ]


def summary_keys() -> list[str]:
    return [
        "bank_closing_balance",
        "deposits_in_transit",
        "unpresented_payments",
        "adjusted_bank_balance",
        "book_balance",
        "bank_only",
        "partial_differences",
        "closed_items",
        "matched_outside_book",
        "adjusted_book_balance",
        "difference",
    ]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def render_csv(body: dict[str, Any]) -> bytes:
    """One table: the summary lines (section `summary`), then every row behind them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(DETAIL_COLUMNS)
    currency = body["currency"]
    for key, (label, amount) in zip(summary_keys(), summary_lines(body), strict=True):
        writer.writerow(
            ["summary", "figure", key, body["period_end"], _text(amount), currency, label]
            + [""] * (len(DETAIL_COLUMNS) - 7)
        )
    for row in flat_rows(body):
        external = row.get("external_id") or ", ".join(row.get("ledger_external_ids") or [])
        writer.writerow(
            [
                row["section"],
                row["type"],
                row["id"],
                _text(row["date"]),
                _text(row["amount"]),  # our own decimal string: never escaped
                currency,
                escape_csv_cell(_text(row["text"])),
                escape_csv_cell(_text(external)),
                _text(row.get("close_reason")),
                escape_csv_cell(_text(row.get("close_note"))),
                escape_csv_cell(_text(row.get("closed_by"))),
                _text(row.get("closed_at")),
            ]
        )
    # A BOM so spreadsheet programs read the UTF-8 text (names, remittance) correctly.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _number_format(currency: str) -> str:
    places = minor_units(currency) if is_known_currency(currency) else 2
    return "#,##0" + ("." + "0" * places if places else "")


def _number(amount: str | None) -> Decimal | None:
    return None if amount is None else Decimal(amount)


def render_xlsx(body: dict[str, Any]) -> bytes:
    """Sheet "Statement" (header facts and the summary) and sheet "Rows" (every row)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    number_format = _number_format(body["currency"])
    book = Workbook()
    sheet = book.active
    sheet.title = "Statement"
    bold = Font(bold=True)
    sheet.append(["Bank reconciliation statement", body["label"]])
    sheet["A1"].font = bold
    statement = body.get("statement") or {}
    facts = [
        ("Currency", body["currency"]),
        ("Period end", f"{body['period_end']} ({body['period_end_source']})"),
        ("Statement", statement.get("statement_id") or statement.get("id") or "none"),
        ("Statement file", statement.get("filename") or ""),
        ("Book opening balance date", body["book"]["opening_balance_date"] or ""),
        ("Balanced", "yes" if body["balanced"] else "no"),
        ("Report sha256", body.get("sha256") or "(live report, not frozen)"),
    ]
    for label, value in facts:
        sheet.append([label, _cell_text(value)])
    sheet.append([])
    for label, amount in summary_lines(body):
        sheet.append([label, _number(amount)])
        cell = sheet.cell(row=sheet.max_row, column=2)
        cell.number_format = number_format
        if label.startswith(("Adjusted", "Difference")):
            sheet.cell(row=sheet.max_row, column=1).font = bold
    sheet.column_dimensions["A"].width = 48
    sheet.column_dimensions["B"].width = 24

    rows = book.create_sheet("Rows")
    rows.append(list(DETAIL_COLUMNS))
    for cell in rows[1]:
        cell.font = bold
    for row in flat_rows(body):
        external = row.get("external_id") or ", ".join(row.get("ledger_external_ids") or [])
        rows.append(
            [
                row["section"],
                row["type"],
                row["id"],
                row["date"] or "",
                _number(row["amount"]),
                body["currency"],
                _cell_text(row["text"]),
                _cell_text(external),
                _cell_text(row.get("close_reason")),
                _cell_text(row.get("close_note")),
                _cell_text(row.get("closed_by")),
                _cell_text(row.get("closed_at")),
            ]
        )
        rows.cell(row=rows.max_row, column=5).number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell_text(value: Any) -> str:
    """A string cell that a spreadsheet shows as text: openpyxl writes a value starting
    with "=" as a formula, so such text gets the same leading quote as in the CSV."""
    text = _text(value)
    return "'" + text if text.startswith("=") else text


# Helvetica (a PDF core font) covers Latin-1 only; other characters are replaced, which
# keeps the PDF free of bundled font files. The JSON, CSV and XLSX carry the exact text.
_PDF_REPLACEMENTS: Final = {
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
}


def _pdf_text(value: Any) -> str:
    text = _text(value)
    for char, plain in _PDF_REPLACEMENTS.items():
        text = text.replace(char, plain)
    return text.encode("latin-1", "replace").decode("latin-1")


def render_pdf(body: dict[str, Any]) -> bytes:
    """A printable statement: header, the summary, each section's rows, the sign-off."""
    from fpdf import FPDF

    currency = body["currency"]
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_title(_pdf_text(f"Bank reconciliation statement - {body['label']}"))
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, _pdf_text("Bank reconciliation statement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    statement = body.get("statement") or {}
    for line in (
        body["label"],
        f"Currency {currency} - as of {body['period_end']} ({body['period_end_source']})",
        f"Statement {statement.get('statement_id') or statement.get('id') or 'none'}"
        f" ({statement.get('filename') or 'no file'})",
    ):
        pdf.cell(0, 6, _pdf_text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for label, amount in summary_lines(body):
        strong = label.startswith(("Adjusted", "Difference"))
        pdf.set_font("Helvetica", "B" if strong else "", 10)
        pdf.cell(120, 6, _pdf_text(label))
        pdf.cell(
            0,
            6,
            _pdf_text(f"{amount if amount is not None else 'unknown'} {currency}"),
            align="R",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(
        0,
        7,
        "Balanced" if body["balanced"] else "NOT balanced",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for warning in body.get("warnings", []):
        pdf.set_font("Helvetica", "I", 9)
        pdf.multi_cell(0, 5, _pdf_text(f"Note: {warning['detail']}"), new_x="LMARGIN")
    for name, title in SECTION_NAMES:
        section = body[name]
        if not section["rows"]:
            continue
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(
            0,
            6,
            _pdf_text(f"{title}: {section['count']} row(s), total {section['total']}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("Helvetica", "", 8)
        for row in section["rows"]:
            text = row["text"]
            if row.get("close_reason"):
                text = (
                    f"{text} [{row['close_reason']}: {row.get('close_note') or ''}; "
                    f"{row.get('closed_by') or 'system'} {row.get('closed_at') or ''}]"
                )
            pdf.cell(22, 5, _pdf_text(row["date"] or ""))
            pdf.cell(28, 5, _pdf_text(row["amount"]), align="R")
            pdf.cell(0, 5, _pdf_text(f"  {text}")[:110], new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 6)
            pdf.cell(0, 3, _pdf_text(f"{row['type']} {row['id']}"), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 8)
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 9)
    sign_off = [
        f"Prepared (closed) by {body.get('closed_by') or '-'} at {body.get('closed_at') or '-'}",
        f"Approved by {body.get('approved_by') or '-'} at {body.get('approved_at') or '-'}",
        f"Report sha256: {body.get('sha256') or 'live report, not frozen'}",
    ]
    for line in sign_off:
        pdf.cell(0, 5, _pdf_text(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render(body: dict[str, Any], file_format: str) -> bytes:
    return {"csv": render_csv, "xlsx": render_xlsx, "pdf": render_pdf}[file_format](body)
