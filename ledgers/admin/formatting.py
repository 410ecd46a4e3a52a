"""How the admin writes money, IBANs, statuses and audit changes for finance staff.

Money always shows the currency's minor units (ISO 4217: `1,176.68` EUR, `1,250` JPY,
`1.250` BHD), or every digit when an amount carries more than the currency allows, with
thousands grouped: never the database's `1176.680000`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.urls import reverse
from django.utils.html import format_html

from ledgers.models import AuditEvent
from ledgers.money import format_amount
from ledgers.selectors import ledger_currencies, ledger_entry_facts


def money(value: Decimal | None, currency: str) -> str:
    """`-1,202.50`: the currency's minor units (exact digits kept), thousands grouped."""
    if value is None:
        return ""
    text = format_amount(Decimal(value), currency)
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction}"


def signed_money(value: Decimal, currency: str) -> str:
    text = money(value, currency)
    return text if value <= 0 else f"+{text}"


def amount_html(value: Decimal | None, currency: str, *, with_currency: bool = True) -> str:
    """Right-aligned tabular figures for list columns."""
    if value is None:
        return "—"
    text = money(value, currency)
    if with_currency:
        text = f"{text} {currency}"
    return format_html('<span class="recon-amount">{}</span>', text)


def iban_display(iban: str) -> str:
    compact = iban.replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def status_badge(value: str, label: str) -> str:
    return format_html('<span class="recon-badge recon-{}">{}</span>', value, label)


def admin_url(obj: Any, view: str = "change") -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


# Audit values that are money: shown in the ledger's currency format, not "-8.260000".
MONEY_KEYS = frozenset(
    {
        "amount",
        "difference",
        "total",
        "source_total",
        "ledger_total",
        "amount_tolerance_abs",
        "opening_balance",
        "closing_balance",
    }
)
Labeller = Callable[[set[str]], dict[str, str]]


def _ids_in(value: Any, key: str, out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _ids_in(v, k, out)
    elif key.endswith("_ids") and isinstance(value, list):
        out.update(str(v) for v in value)
    elif key.endswith("_id") and value:
        out.add(str(value))


def _value_text(key: str, value: Any, currency: str, names: dict[str, str]) -> str:
    if key in MONEY_KEYS and value not in (None, ""):
        try:
            return money(Decimal(str(value)), currency)
        except (InvalidOperation, ValueError):
            return str(value)
    if key.endswith("_ids") and isinstance(value, list):
        return ", ".join(names.get(str(v), str(v)[:8]) for v in value) or "—"
    if key.endswith("_id") and value:
        return names.get(str(value), str(value))
    return "—" if value in (None, "") else str(value)


def _change_text(before: Any, after: Any, currency: str, names: dict[str, str]) -> str:
    def text(key: str, value: Any) -> str:
        return _value_text(key, value, currency, names)

    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in after if before.get(k) != after.get(k)] or list(after)
        return "; ".join(f"{k}: {text(k, before.get(k))} → {text(k, after[k])}" for k in keys)
    if isinstance(after, dict):
        return "; ".join(f"{k}: {text(k, v)}" for k, v in after.items())
    if isinstance(before, dict):
        return "was " + "; ".join(f"{k}: {text(k, v)}" for k, v in before.items())
    return ""


def event_rows(
    events: Iterable[AuditEvent], *, labels: Labeller | None = None
) -> list[dict[str, Any]]:
    """Audit events for a history table: money in the ledger's format, entries by label
    (GL entries here; `labels` names other ids, e.g. statement items), never raw UUIDs."""
    events = list(events)
    ids: set[str] = set()
    for event in events:
        _ids_in(event.before, "", ids)
        _ids_in(event.after, "", ids)
    names = {
        pk: f"GL {external_id} ({money(amount, currency)} {currency})"
        for pk, (external_id, amount, currency) in ledger_entry_facts(ids).items()
    }
    if labels is not None and ids:
        names |= labels(ids - set(names))
    ledger_ids = {event.ledger_id for event in events if event.ledger_id}
    currencies = ledger_currencies(ledger_ids)
    return [
        {
            "when": event.created_at,
            "who": event.actor.get_username() if event.actor else "system",
            "action": event.action,
            "subject": event.subject_type,
            "change": _change_text(
                event.before, event.after, currencies.get(event.ledger_id, ""), names
            ),
            "note": event.note,
        }
        for event in events
    ]
