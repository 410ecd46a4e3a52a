"""How the admin writes money, IBANs, statuses and audit changes for finance staff.

Money always shows the currency's minor units (ISO 4217: `1,176.68` EUR, `1,250` JPY,
`1.250` BHD), or every digit when an amount carries more than the currency allows, with
thousands grouped: never the database's `1176.680000`.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils.html import format_html

from ledgers.models import AuditEvent
from ledgers.money import format_amount


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


def _change_text(before: Any, after: Any) -> str:
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in after if before.get(k) != after.get(k)] or list(after)
        return "; ".join(f"{k}: {before.get(k, '—')} → {after[k]}" for k in keys)
    if isinstance(after, dict):
        return "; ".join(f"{k}: {v}" for k, v in after.items())
    if isinstance(before, dict):
        return "was " + "; ".join(f"{k}: {v}" for k, v in before.items())
    return ""


def event_rows(events: Iterable[AuditEvent]) -> list[dict[str, Any]]:
    return [
        {
            "when": event.created_at,
            "who": event.actor.get_username() if event.actor else "system",
            "action": event.action,
            "subject": event.subject_type,
            "change": _change_text(event.before, event.after),
            "note": event.note,
        }
        for event in events
    ]
