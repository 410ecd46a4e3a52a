"""Words and figures of the reconciliation screens: run names, statement lines, batch
details, explanations. Money itself is formatted by `ledgers.admin.formatting`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ledgers.admin.formatting import money
from reconciliation.models import Match, Run, SourceEntry, Statement


def calendar_span(business_days: int) -> int:
    """Calendar days that hold `business_days` on either side of a day, weekends included:
    the engine's windows count Monday to Friday, a database date range counts every day."""
    return business_days + 2 * (business_days // 5 + 1)


def run_title(run: Run, *, with_status: bool = True) -> str:
    """'Operating EUR · Mar 2024 · automatic · completed': the run by account and period
    (`reconciliation.labels`, as the API's `label`), then how it stands."""
    from reconciliation.selectors import run_label_of

    parts = [run_label_of(run), run.get_mode_display().lower()]
    if with_status:
        parts.append(run.get_status_display().lower())
    if run.note:
        parts.append(run.note)
    return " · ".join(parts)


@dataclass
class StatementLine:
    statement: Statement
    filename: str
    file_format: str
    opening: str
    closing: str
    balances: str  # "ok" | "mismatch" | "unknown"
    balance_gap: str


def statement_gap(statement: Statement) -> Decimal | None:
    """opening + entries - closing; None when the file carries no balances."""
    if statement.opening_balance is None or statement.closing_balance is None:
        return None
    return statement.opening_balance + statement.entry_sum - statement.closing_balance


def statement_line(statement: Statement, default_currency: str) -> StatementLine:
    currency = statement.currency or default_currency
    gap = statement_gap(statement)
    state = "unknown" if gap is None else "ok" if gap == 0 else "mismatch"
    return StatementLine(
        statement=statement,
        filename=statement.source_file.filename,
        file_format=statement.source_file.get_format_display() or "?",
        opening=money(statement.opening_balance, currency),
        closing=money(statement.closing_balance, currency),
        balances=state,
        balance_gap=money(gap, currency) if gap else "",
    )


def detail_line(detail: Any, currency: str) -> str:
    """One transaction of a batch booking: amount · party · end-to-end id · remittance."""
    if not isinstance(detail, dict):
        return str(detail)
    amount = detail.get("amount")
    own = detail.get("currency") or currency
    parts = [
        f"{money(Decimal(str(amount)), own)} {own}" if amount not in (None, "") else "",
        str(detail.get("counterparty_name") or ""),
        str(detail.get("end_to_end_id") or ""),
        str(detail.get("remittance") or ""),
    ]
    return " · ".join(p for p in parts if p)


def bank_references(entry: SourceEntry) -> list[tuple[str, str]]:
    """The item's references with what each one is, without repeats."""
    refs = [
        ("reference", entry.reference),
        ("end-to-end", entry.end_to_end_id),
        ("creditor ref", entry.creditor_reference),
        ("entry ref", entry.entry_reference),
        ("bank ref", entry.bank_reference),
    ]
    seen: set[str] = set()
    out = []
    for label, value in refs:
        if value and value not in seen:
            seen.add(value)
            out.append((label, value))
    return out


def explanation_rows(match: Match) -> list[dict[str, Any]]:
    """The stored explanation (the engine's criteria, or a manual match's) as table rows."""
    rows = []
    for item in match.explanation or []:
        if not isinstance(item, dict):
            continue
        points, top = int(item.get("points") or 0), int(item.get("max_points") or 0)
        detail = str(item.get("detail", ""))
        if top and points >= top:
            state = "ok"
        elif points > 0 or not top or "counted" in detail:
            # "counted": the criterion agreed but the shared evidence cap took its points.
            state = "near"
        else:
            state = "diff"
        rows.append(
            {
                "criterion": str(item.get("criterion", "")).replace("_", " ").capitalize(),
                "points": points,
                "max_points": top,
                "percent": round(100 * points / top) if top else 0,
                "detail": detail,
                "state": state,
            }
        )
    return rows


_POINTS_ASIDE = re.compile(r"\s*\([^()]*points[^()]*\)")


def plain_detail(detail: str) -> str:
    """A criterion's words without the scoring arithmetic ("(25 points, 0 counted …)")."""
    return _POINTS_ASIDE.sub("", detail)


def why_sentence(rows: list[dict[str, Any]]) -> str:
    """The explanation in words."""
    return " · ".join(
        f"{r['criterion'].lower()} {plain_detail(r['detail'])}" for r in rows if r["detail"]
    )


def difference_hint(match: Match) -> str:
    if match.difference == 0:
        return "bank and ledger agree"
    gap = money(abs(match.difference), match.currency)
    side = "less" if match.difference < 0 else "more"
    hint = f"bank shows {gap} {side} than the ledger"
    if match.difference < 0 < match.ledger_total:
        hint += " (bank fee?)"
    return hint


# The report's two halves as the statement is read: each side's balance, what adjusts it,
# and the adjusted balance they must agree on. (section key, words)
REPORT_BANK_SIDE = (
    ("deposits_in_transit", "Deposits in transit: in the books, not yet on the statement"),
    ("unpresented_payments", "Unpresented payments: in the books, not yet on the statement"),
)
REPORT_BOOK_SIDE = (
    ("bank_only", "Bank items not in the books: fees, interest, unknown"),
    ("partial_differences", "Differences of partial matches (bank - book)"),
    ("closed_items", "Bank items closed by a person"),
    ("matched_outside_book", "Matched GL entries outside the book balance"),
)
_ROW_ADMIN = {
    "gl_entry": "admin:ledgers_ledgerentry_change",
    "item": "admin:reconciliation_sourceentry_change",
    "match": "admin:reconciliation_match_change",
}


def report_sections(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The report's sections with money formatted and each row linked to its admin page,
    so every figure on the page leads to the rows behind it."""
    from django.urls import NoReverseMatch, reverse

    currency = report["currency"]

    def amount(text: str | None) -> str:
        return money(Decimal(text), currency) if text not in (None, "") else "—"

    def rows(name: str) -> list[dict[str, Any]]:
        out = []
        for row in report[name]["rows"]:
            try:
                url = reverse(_ROW_ADMIN[row["type"]], args=[row["id"]])
            except (KeyError, NoReverseMatch):
                url = ""
            out.append({**row, "amount_text": amount(row["amount"]), "url": url})
        return out

    def side(spec: tuple[tuple[str, str], ...]) -> list[dict[str, Any]]:
        return [
            {
                "key": key,
                "title": title,
                "total": amount(report[key]["total"]),
                "count": report[key]["count"],
                "rows": rows(key),
            }
            for key, title in spec
        ]

    return {"bank": side(REPORT_BANK_SIDE), "book": side(REPORT_BOOK_SIDE)}
