"""The reviewer's admin screens: run overview, side-by-side review, close forms, history.

Read-side helpers (the run summary, the review comparison, other candidates) and the
custom views that `reconciliation/admin.py` wires in through `get_urls`. Every write goes
through a service (reconciliation.services.*), so the admin takes the same locks, applies
the same 409 rules and writes the same audit events as the API. A `DomainError` becomes an
admin error message, never a 500.

Permissions are checked twice: the Django permission (the role's group) *and* the user's
role in the organization the object belongs to (`ledgers.selectors.has_role`), because a
user can be a reviewer in one organization and a viewer in another.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Abs
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from rapidfuzz import fuzz

from ledgers.choices import ROLE_RANK, MembershipRole
from ledgers.exceptions import DomainError
from ledgers.models import AuditEvent, LedgerEntry
from ledgers.money import format_amount
from ledgers.selectors import has_role, user_roles
from reconciliation.admin_forms import (
    CloseItemsForm,
    CloseRunForm,
    ReviewDecisionForm,
    StatementUploadForm,
)
from reconciliation.choices import (
    CloseReason,
    DiscrepancySeverity,
    DiscrepancyStatus,
    MatchShape,
    MatchStatus,
    RunStatus,
    SourceEntryMatchStatus,
)
from reconciliation.models import (
    Discrepancy,
    Match,
    MatchLedgerLink,
    MatchSourceLink,
    Run,
    SourceEntry,
    SourceFile,
    Statement,
)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

UserLike = AbstractBaseUser | AnonymousUser
CANDIDATE_LIMIT = 5
HISTORY_LIMIT = 200


# --- formatting ---------------------------------------------------------------------------


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


def iban_display(iban: str) -> str:
    compact = iban.replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def domain_error_text(exc: DomainError) -> str:
    """The service's message plus where in the file it happened, when it says so."""
    where = [
        f"{name} {exc.extra[name]}"
        for name in ("line", "row", "element")
        if exc.extra.get(name) not in (None, "")
    ]
    text = exc.detail
    if where and not all(str(part) in text for part in where):
        text = f"{text} ({', '.join(where)})"
    return f"{text} [{exc.code}]"


def admin_url(obj: Any, view: str = "change") -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk])


# --- roles --------------------------------------------------------------------------------


def role_ok(user: UserLike, organization_id: Any, role: str) -> bool:
    """The user's role in this organization is at least `role` (superusers always are)."""
    if getattr(user, "is_superuser", False):
        return True
    return has_role(user=user, organization_id=organization_id, role=role)


def role_anywhere(user: UserLike, role: str) -> bool:
    """At least `role` in some organization: decides whether an action is offered at all."""
    if getattr(user, "is_superuser", False):
        return True
    return any(ROLE_RANK[have] >= ROLE_RANK[role] for have in user_roles(user).values())


def can(request: HttpRequest, perm: str, organization_id: Any, role: str) -> bool:
    return request.user.has_perm(perm) and role_ok(request.user, organization_id, role)


def require(request: HttpRequest, perm: str, organization_id: Any, role: str) -> None:
    if not can(request, perm, organization_id, role):
        raise PermissionDenied("Your role in this organization does not allow this.")


def report(request: HttpRequest, exc: DomainError, prefix: str = "") -> None:
    messages.error(request, f"{prefix}{domain_error_text(exc)}")


# --- history (audit events) ---------------------------------------------------------------


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


def history_view(
    model_admin: ModelAdmin, request: HttpRequest, object_id: str, extra_context: Any = None
) -> HttpResponse:
    """The object's audit trail (who, when, what, note) instead of Django's LogEntry list."""
    obj = model_admin.get_object(request, object_id)
    if obj is None:
        return model_admin._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
            request, model_admin.opts, object_id
        )
    if not model_admin.has_view_or_change_permission(request, obj):
        raise PermissionDenied
    events = AuditEvent.objects.select_related("actor").order_by("-created_at", "-id")
    if isinstance(obj, Run):
        events = events.filter(run_id=obj.pk)
        title = f"History of {run_title(obj)}"
    else:
        ids = [obj.pk]
        if isinstance(obj, SourceEntry):
            # The item's decisions live on the matches it was part of, too.
            ids += list(obj.match_links.values_list("match_id", flat=True))
        events = events.filter(subject_id__in=ids)
        title = f"History of {obj}"
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "opts": model_admin.opts,
        "object": obj,
        "events": event_rows(events[:HISTORY_LIMIT]),
        "limit": HISTORY_LIMIT,
        **(extra_context or {}),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/audit_history.html", context)


# --- run page -----------------------------------------------------------------------------


def run_title(run: Run) -> str:
    parts = [f"Run {run.created_at:%Y-%m-%d}"]
    if run.account_id:
        parts.append(run.account.name)
    else:
        parts.append(run.ledger.name)
    parts += [run.get_mode_display().lower(), run.get_status_display().lower()]
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


def statement_lines(run: Run) -> list[StatementLine]:
    lines = []
    for st in Statement.objects.filter(source_file__run=run).select_related("source_file"):
        currency = st.currency or run.ledger.currency
        if st.opening_balance is None or st.closing_balance is None:
            state, gap = "unknown", ""
        else:
            delta = st.opening_balance + st.entry_sum - st.closing_balance
            state = "ok" if delta == 0 else "mismatch"
            gap = money(delta, currency) if delta else ""
        lines.append(
            StatementLine(
                statement=st,
                filename=st.source_file.filename,
                file_format=st.source_file.get_format_display() or "?",
                opening=money(st.opening_balance, currency),
                closing=money(st.closing_balance, currency),
                balances=state,
                balance_gap=gap,
            )
        )
    return lines


def _changelist(model: type, **params: Any) -> str:
    url = reverse(f"admin:reconciliation_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def run_summary(request: HttpRequest, run: Run) -> dict[str, Any]:
    """Everything the run page shows above the form. `run` carries `with_run_counts`."""
    item_counts = [
        {
            "status": status,
            "label": label.lower(),
            "count": getattr(run, f"items_{status}", 0),
            "url": _changelist(SourceEntry, run__id__exact=run.pk, match_status__exact=status),
        }
        for status, label in SourceEntryMatchStatus.choices
    ]
    match_counts = [
        {
            "status": status,
            "label": label.lower(),
            "count": getattr(run, f"matches_{status}", 0),
            "url": _changelist(Match, run__id__exact=run.pk, status__exact=status),
        }
        for status, label in MatchStatus.choices
    ]
    open_q = Q(status__in=[DiscrepancyStatus.OPEN, DiscrepancyStatus.IN_REVIEW])
    critical = Discrepancy.objects.filter(
        open_q, run=run, severity=DiscrepancySeverity.CRITICAL
    ).count()
    org_id = run.ledger.organization_id
    is_open = run.status != RunStatus.CLOSED
    suggested = getattr(run, "matches_suggested", 0)
    return {
        "run_title": run_title(run),
        "run": run,
        "statements": statement_lines(run),
        "files": list(
            SourceFile.objects.filter(run=run).select_related("created_by").order_by("created_at")
        ),
        "item_counts": item_counts,
        "match_counts": match_counts,
        "open_discrepancies": getattr(run, "open_discrepancies", 0),
        "critical_discrepancies": critical,
        "discrepancies_url": _changelist(
            Discrepancy, run__id__exact=run.pk, status__in="open,in_review"
        ),
        "suggested": suggested,
        "review_url": reverse("admin:reconciliation_match_review") + f"?run={run.pk}",
        "can_auto_match": is_open
        and can(request, "reconciliation.change_run", org_id, MembershipRole.REVIEWER),
        "can_close": is_open
        and can(request, "reconciliation.close_run", org_id, MembershipRole.REVIEWER),
        "can_upload": is_open
        and can(request, "reconciliation.add_sourcefile", org_id, MembershipRole.REVIEWER),
        "can_review": can(request, "reconciliation.decide_match", org_id, MembershipRole.REVIEWER),
        "upload_form": StatementUploadForm(),
        "events": event_rows(
            AuditEvent.objects.filter(run_id=run.pk)
            .select_related("actor")
            .order_by("-created_at", "-id")[:8]
        ),
        "history_url": reverse("admin:reconciliation_run_history", args=[run.pk]),
    }


def _scoped_run(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> Run:
    run = model_admin.get_object(request, object_id)
    if run is None:
        raise Http404("Run not found.")
    return run


def _back_to_run(run: Run) -> HttpResponseRedirect:
    return HttpResponseRedirect(admin_url(run))


def run_upload_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    from reconciliation.services.imports import csv_mapping_from, source_file_upload

    run = _scoped_run(model_admin, request, object_id)
    require(
        request,
        "reconciliation.add_sourcefile",
        run.ledger.organization_id,
        MembershipRole.REVIEWER,
    )
    form = StatementUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else name
            messages.error(request, f"Upload: {label}: {' '.join(errors)}")
        return _back_to_run(run)
    upload = form.cleaned_data["file"]
    try:
        mapping = form.cleaned_data["mapping"]
        result = source_file_upload(
            run=run,
            stream=upload,
            filename=upload.name,
            size=upload.size,
            file_format=form.cleaned_data["format"] or None,
            mapping=csv_mapping_from(mapping) if mapping is not None else None,
            allow_duplicate=form.cleaned_data["allow_duplicate"],
            actor=request.user,
        )
    except DomainError as exc:
        report(request, exc, prefix=f"{upload.name}: ")
        return _back_to_run(run)
    text = f"{upload.name}: imported {result.imported} entries"
    if result.skipped_duplicates:
        text += f", skipped {result.skipped_duplicates} already imported"
    if result.skipped:
        text += f", skipped {result.skipped} pending/informational"
    messages.success(request, text + ".")
    for warning in result.warnings[:10]:
        messages.warning(request, f"{upload.name}: {warning['detail']}")
    return _back_to_run(run)


def run_auto_match_view(
    model_admin: ModelAdmin, request: HttpRequest, object_id: str
) -> HttpResponse:
    from reconciliation.services.auto_match import run_auto_match

    run = _scoped_run(model_admin, request, object_id)
    require(
        request, "reconciliation.change_run", run.ledger.organization_id, MembershipRole.REVIEWER
    )
    try:
        result = run_auto_match(run=run, actor=request.user)
    except DomainError as exc:
        report(request, exc, prefix="Auto-match: ")
        return _back_to_run(run)
    messages.success(
        request,
        f"Auto-match: {result.matched} new matches ({result.accepted} accepted, "
        f"{result.suggested} suggested); {result.discrepancies} open discrepancies.",
    )
    return _back_to_run(run)


def run_close_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """GET: what is still open and a confirmation; POST: run_close."""
    from reconciliation.services.runs import run_close

    run = _scoped_run(model_admin, request, object_id)
    require(
        request, "reconciliation.close_run", run.ledger.organization_id, MembershipRole.REVIEWER
    )
    form = CloseRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run_close(run=run, actor=request.user, note=form.cleaned_data["note"])
        except DomainError as exc:
            report(request, exc, prefix="Close run: ")
        else:
            messages.success(request, "The run is closed; it can no longer be changed.")
        return _back_to_run(run)
    summary = run_summary(request, run)
    context = {
        **model_admin.admin_site.each_context(request),
        **summary,
        "title": "Close run",
        "subtitle": summary["run_title"],
        "opts": model_admin.opts,
        "object": run,
        "form": form,
        "already_closed": run.status == RunStatus.CLOSED,
        "unmatched": getattr(run, "items_unmatched", 0),
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/run/close_confirm.html", context)


# --- review queue ---------------------------------------------------------------------------


def review_queue(
    model_admin: ModelAdmin, request: HttpRequest, run_id: str | None
) -> QuerySet[Match]:
    """Suggested matches the user can see, highest absolute value first."""
    qs = model_admin.get_queryset(request).filter(status=MatchStatus.SUGGESTED)
    if run_id:
        qs = qs.filter(run_id=run_id)
    return qs.annotate(abs_total=Abs("source_total")).order_by("-abs_total", "pk")


def _after(queue: QuerySet[Match], match: Match) -> QuerySet[Match]:
    key = abs(match.source_total)
    return queue.filter(Q(abs_total__lt=key) | Q(abs_total=key, pk__gt=match.pk))


def next_in_queue(queue: QuerySet[Match], match: Match) -> Match | None:
    """The next suggestion after `match`, wrapping around to skipped ones at the end."""
    return _after(queue, match).first() or queue.exclude(pk=match.pk).first()


def review_url(match: Match | None, run_id: str | None) -> str:
    if match is None:
        url = reverse("admin:reconciliation_match_review")
    else:
        url = reverse("admin:reconciliation_match_review_one", args=[match.pk])
    return f"{url}?{urlencode({'run': run_id})}" if run_id else url


def _run_param(request: HttpRequest) -> str | None:
    value = request.GET.get("run") or request.POST.get("run") or None
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Http404("Unknown run.") from None


def review_start_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The queue's first suggestion, or a 'nothing left' page."""
    run_id = _run_param(request)
    run = None
    if run_id:
        runs = Run.objects.filter(pk=run_id).select_related("ledger", "account")
        if not request.user.is_superuser:
            runs = runs.filter(ledger__organization_id__in=list(user_roles(request.user)))
        run = runs.first()
        if run is None:
            raise Http404("Run not found.")
    first = review_queue(model_admin, request, run_id).first()
    if first is not None:
        return HttpResponseRedirect(review_url(first, run_id))
    extra: dict[str, Any] = {}
    if run is not None:
        extra["unmatched"] = SourceEntry.objects.filter(
            run=run, match_status=SourceEntryMatchStatus.UNMATCHED
        ).count()
        extra["unmatched_url"] = _changelist(
            SourceEntry, run__id__exact=run.pk, match_status__exact="unmatched"
        )
        org_id = run.ledger.organization_id
        if run.status != RunStatus.CLOSED and can(
            request, "reconciliation.close_run", org_id, MembershipRole.REVIEWER
        ):
            extra["close_url"] = reverse("admin:reconciliation_run_close", args=[run.pk])
    context = {
        **extra,
        **model_admin.admin_site.each_context(request),
        "title": "Review suggestions",
        "subtitle": run_title(run) if run else "All runs",
        "opts": model_admin.opts,
        "match": None,
        "run": run,
        "run_url": admin_url(run) if run else None,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/match/review.html", context)


def review_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    run_id = _run_param(request)
    match = model_admin.get_object(request, object_id)
    if match is None:
        raise Http404("Match not found.")
    queue = review_queue(model_admin, request, run_id)
    if request.method == "POST":
        return _review_decide(request, match, queue, run_id)
    context = {
        **model_admin.admin_site.each_context(request),
        **review_context(request, match, queue, run_id),
        "opts": model_admin.opts,
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/match/review.html", context)


def _review_decide(
    request: HttpRequest, match: Match, queue: QuerySet[Match], run_id: str | None
) -> HttpResponse:
    from reconciliation.services.matches import match_accept, match_reject

    require(
        request,
        "reconciliation.decide_match",
        match.run.ledger.organization_id,
        MembershipRole.REVIEWER,
    )
    form = ReviewDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Accept or Reject.")
        return HttpResponseRedirect(review_url(match, run_id))
    decision, note = form.cleaned_data["decision"], form.cleaned_data["note"].strip()
    service = match_accept if decision == "accept" else match_reject
    try:
        service(match=match, actor=request.user, note=note)
    except DomainError as exc:
        report(request, exc, prefix=f"Could not {decision} this match: ")
        return HttpResponseRedirect(review_url(match, run_id))
    total = money(match.source_total, match.currency)
    verb = "accepted" if decision == "accept" else "rejected"
    messages.success(request, f"Match of {total} {match.currency} {verb}.")
    following = next_in_queue(queue, match)
    return HttpResponseRedirect(review_url(following, run_id))


# --- the side-by-side comparison ----------------------------------------------------------


@dataclass
class Verdict:
    state: str  # ok | near | diff | none
    text: str

    @property
    def symbol(self) -> str:
        return {"ok": "✓", "near": "~", "diff": "≠", "none": "·"}[self.state]


@dataclass
class Row:
    label: str
    bank: list[str]
    ledger: list[str]
    verdict: Verdict | None = None
    emphasis: bool = False
    bank_extra: list[str] = field(default_factory=list)


_REF_NUMBER = re.compile(r"\d{3,}")


def _norm(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _numbers(texts: Iterable[str]) -> set[str]:
    return {n.lstrip("0") for t in texts for n in _REF_NUMBER.findall(t) if n.lstrip("0")}


def bank_references(entry: SourceEntry) -> list[tuple[str, str]]:
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


def _detail_refs(entry: SourceEntry) -> list[str]:
    return [
        str(d.get(key) or "")
        for d in (entry.details or [])
        if isinstance(d, dict)
        for key in ("end_to_end_id", "creditor_reference", "reference")
    ]


def compare_dates(
    bank: Sequence[SourceEntry], ledger: Sequence[LedgerEntry], window: int
) -> Verdict:
    days = max(min(abs((g.booking_date - b.booking_date).days) for b in bank) for g in ledger)
    if days == 0:
        return Verdict("ok", "same day")
    text = f"{days} day{'s' if days != 1 else ''} apart"
    return Verdict("near" if days <= window else "diff", text)


def compare_references(bank: Sequence[SourceEntry], ledger: Sequence[LedgerEntry]) -> Verdict:
    bank_refs = {_norm(v) for b in bank for _, v in bank_references(b)}
    bank_refs |= {_norm(v) for b in bank for v in _detail_refs(b)}
    bank_refs.discard("")
    gl_refs = {_norm(g.reference) for g in ledger} - {""}
    if bank_refs & gl_refs:
        return Verdict("ok", "reference equal")
    gl_numbers = _numbers(g.reference for g in ledger)
    bank_text = [v for b in bank for _, v in bank_references(b)] + [b.description for b in bank]
    bank_text += [v for b in bank for v in _detail_refs(b)]
    if gl_numbers and any(n in t for n in gl_numbers for t in _numbers(bank_text)):
        return Verdict("near", "same number in reference")
    if not gl_refs or not bank_refs:
        return Verdict("none", "no reference on one side")
    return Verdict("diff", "references differ")


def _bank_names(entry: SourceEntry) -> list[str]:
    names = [entry.counterparty_name] if entry.counterparty_name else []
    if not names:
        names = [str(d.get("counterparty_name") or "") for d in entry.details or []]
    return [n for n in names if n]


def compare_parties(bank: Sequence[SourceEntry], ledger: Sequence[LedgerEntry]) -> Verdict:
    bank_names = sorted({_words(n) for b in bank for n in _bank_names(b)})
    gl_names = sorted({_words(g.counterparty) for g in ledger if g.counterparty})
    if not bank_names or not gl_names:
        return Verdict("none", "no name on one side")
    best = max(fuzz.token_sort_ratio(a, b) for a in bank_names for b in gl_names)
    if best >= 95:
        return Verdict("ok", "party equal")
    if best >= 75:
        return Verdict("near", f"party similar ({best:.0f} %)")
    return Verdict("diff", "party differs")


def compare_texts(bank: Sequence[SourceEntry], ledger: Sequence[LedgerEntry]) -> Verdict:
    bank_text = _words(" ".join(b.description for b in bank))
    gl_text = _words(" ".join(g.description for g in ledger))
    if not bank_text or not gl_text:
        return Verdict("none", "no text on one side")
    ratio = fuzz.token_set_ratio(bank_text, gl_text)
    if ratio >= 85:
        return Verdict("ok", "text equal")
    if ratio >= 50 or (_numbers([bank_text]) & _numbers([gl_text])):
        return Verdict("near", f"text similar ({ratio:.0f} %)")
    return Verdict("diff", f"text differs ({ratio:.0f} %)")


def compare_amounts(match: Match) -> Verdict:
    if match.difference == 0:
        return Verdict("ok", "amount equal")
    return Verdict("diff", f"amount differs by {signed_money(match.difference, match.currency)}")


def comparison_rows(
    match: Match, bank: Sequence[SourceEntry], ledger: Sequence[LedgerEntry], window: int
) -> list[Row]:
    has_gl = bool(ledger)

    def dates_b(e: SourceEntry) -> str:
        if e.value_date and e.value_date != e.booking_date:
            return f"{e.booking_date:%Y-%m-%d} (value {e.value_date:%Y-%m-%d})"
        return f"{e.booking_date:%Y-%m-%d}"

    def amounts(entries: Sequence[Any], total: Decimal) -> list[str]:
        lines = [f"{money(e.amount, e.currency)} {e.currency}" for e in entries]
        if len(entries) > 1:
            lines.append(f"= {money(total, match.currency)} {match.currency}")
        return lines

    def party_b(e: SourceEntry) -> str:
        name = e.counterparty_name or "—"
        return f"{name}  {iban_display(e.counterparty_iban)}" if e.counterparty_iban else name

    rows = [
        Row(
            "Date",
            [dates_b(b) for b in bank],
            [f"{g.booking_date:%Y-%m-%d}" for g in ledger],
            compare_dates(bank, ledger, window) if has_gl else None,
        ),
        Row(
            "Amount",
            amounts(bank, match.source_total),
            amounts(ledger, match.ledger_total),
            compare_amounts(match) if has_gl else None,
            emphasis=True,
        ),
        Row(
            "Counterparty",
            [party_b(b) for b in bank],
            [g.counterparty or "—" for g in ledger],
            compare_parties(bank, ledger) if has_gl else None,
        ),
        Row(
            "Reference",
            [
                " · ".join(f"{label} {value}" for label, value in bank_references(b)) or "—"
                for b in bank
            ],
            [g.reference or "—" for g in ledger],
            compare_references(bank, ledger) if has_gl else None,
        ),
        Row(
            "Description",
            [b.description or "—" for b in bank],
            [g.description or "—" for g in ledger],
            compare_texts(bank, ledger) if has_gl else None,
        ),
        Row(
            "Source",
            [
                f"line {b.line}"
                + (f" · {b.bank_transaction_code}" if b.bank_transaction_code else "")
                + (" · reversal" if b.is_reversal else "")
                for b in bank
            ],
            [
                f"{g.external_id}" + (f" · account {g.account.code}" if g.account_id else "")
                for g in ledger
            ],
        ),
    ]
    currencies = {e.currency for e in [*bank, *ledger]}
    if len(currencies) > 1:
        rows.insert(
            2,
            Row(
                "Currency",
                [b.currency for b in bank],
                [g.currency for g in ledger],
                Verdict("diff", "currencies differ"),
            ),
        )
    return rows


def explanation_rows(match: Match) -> list[dict[str, Any]]:
    rows = []
    for item in match.explanation or []:
        if not isinstance(item, dict):
            continue
        points, top = int(item.get("points") or 0), int(item.get("max_points") or 0)
        detail = str(item.get("detail", ""))
        if top and points >= top:
            state = "ok"
        elif "counted" in detail:
            state = "near"  # the criterion agreed but its points were capped
        elif points > 0 or not top:
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


def why_sentence(rows: list[dict[str, Any]]) -> str:
    """The explanation in words, without the scoring arithmetic."""
    return " · ".join(
        f"{r['criterion'].lower()} {_POINTS_ASIDE.sub('', r['detail'])}"
        for r in rows
        if r["detail"]
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


def other_candidates(match: Match, bank: Sequence[SourceEntry]) -> list[dict[str, Any]]:
    """GL entries near this bank entry (same currency, amount within tolerance, date within
    the window) that are free or only in another *suggested* match; at most five."""
    from django.db.models import CharField, IntegerField, OuterRef, Subquery, UUIDField

    from reconciliation.services.auto_match import run_match_settings

    if not bank:
        return []
    run = match.run
    settings = run_match_settings(run)
    amount = sum((b.amount for b in bank), Decimal("0"))
    day = min(b.booking_date for b in bank)
    tolerance = settings.amount_tolerance_abs
    if settings.amount_tolerance_pct:
        tolerance = max(tolerance, abs(amount) * settings.amount_tolerance_pct / 100)
    window = dt.timedelta(days=settings.date_window_days)
    live = MatchLedgerLink.objects.filter(ledger_entry_id=OuterRef("pk"), is_active=True)
    qs = (
        LedgerEntry.objects.filter(
            ledger_id=run.ledger_id,
            currency=match.currency,
            amount__gte=amount - tolerance,
            amount__lte=amount + tolerance,
            booking_date__gte=day - window,
            booking_date__lte=day + window,
        )
        .exclude(match_links__match=match)
        .annotate(
            live_match_id=Subquery(live.values("match_id")[:1], output_field=UUIDField()),
            live_status=Subquery(live.values("match__status")[:1], output_field=CharField()),
            live_score=Subquery(live.values("match__score")[:1], output_field=IntegerField()),
            gap=Abs(F("amount") - amount),
        )
        .exclude(live_status=MatchStatus.ACCEPTED)
        .order_by("gap", "booking_date", "pk")
    )
    if run.account_id:
        qs = qs.filter(Q(account_id=run.account_id) | Q(account_id__isnull=True))
    out = []
    for g in qs[:CANDIDATE_LIMIT]:
        out.append(
            {
                "entry": g,
                "date": f"{g.booking_date:%Y-%m-%d}",
                "amount": money(g.amount, g.currency),
                "currency": g.currency,
                "difference": signed_money(amount - g.amount, g.currency) if g.gap else "",
                "counterparty": g.counterparty,
                "reference": g.reference,
                "url": reverse("admin:ledgers_ledgerentry_change", args=[g.pk]),
                "in_suggestion": g.live_match_id is not None,
                "score": g.live_score,
                "review_url": (
                    reverse("admin:reconciliation_match_review_one", args=[g.live_match_id])
                    if g.live_match_id
                    else ""
                ),
            }
        )
    return out


def _position(queue: QuerySet[Match], match: Match) -> int:
    key = abs(match.source_total)
    return queue.filter(Q(abs_total__gt=key) | Q(abs_total=key, pk__lt=match.pk)).count() + 1


def review_context(
    request: HttpRequest, match: Match, queue: QuerySet[Match], run_id: str | None
) -> dict[str, Any]:
    from reconciliation.services.auto_match import run_match_settings

    run = match.run
    bank = list(
        SourceEntry.objects.filter(match_links__match=match).order_by("booking_date", "line", "pk")
    )
    ledger = list(
        LedgerEntry.objects.filter(match_links__match=match)
        .select_related("account")
        .order_by("booking_date", "external_id")
    )
    settings = run_match_settings(run)
    total = queue.count()
    is_suggested = match.status == MatchStatus.SUGGESTED
    following = next_in_queue(queue, match)
    explanation = explanation_rows(match)
    org_id = run.ledger.organization_id
    can_decide = can(request, "reconciliation.decide_match", org_id, MembershipRole.REVIEWER)
    run_closed = run.status == RunStatus.CLOSED
    batches = [
        {"entry": b, "lines": [_detail_line(d, b.currency) for d in b.details]}
        for b in bank
        if len(b.details or []) > 1
    ]
    return {
        "title": "Review suggestion",
        "subtitle": run_title(run),
        "match": match,
        "run": run,
        "run_url": admin_url(run),
        "run_id": run_id,
        "position": _position(queue, match) if is_suggested else None,
        "total": total,
        "is_suggested": is_suggested,
        "shape": MatchShape(match.shape).label if match.shape in MatchShape.values else match.shape,
        "difference": signed_money(match.difference, match.currency),
        "difference_zero": match.difference == 0,
        "difference_hint": (
            difference_hint(match) if ledger else "the bank entries offset each other"
        ),
        "source_total": money(match.source_total, match.currency),
        "ledger_total": money(match.ledger_total, match.currency),
        "score_class": "high" if match.score >= 80 else "mid" if match.score >= 60 else "low",
        "bank": bank,
        "ledger": ledger,
        "bank_links": [(b, admin_url(b)) for b in bank],
        "ledger_links": [
            (g, reverse("admin:ledgers_ledgerentry_change", args=[g.pk])) for g in ledger
        ],
        "rows": comparison_rows(match, bank, ledger, settings.date_window_days),
        "batches": batches,
        "explanation": explanation,
        "why": why_sentence(explanation),
        "candidates": other_candidates(match, bank),
        "discrepancies": list(match.discrepancies.order_by("created_at")),
        "events": event_rows(
            AuditEvent.objects.filter(subject_id=match.pk)
            .select_related("actor")
            .order_by("-created_at", "-id")[:10]
        ),
        "can_decide": can_decide and not run_closed,
        "can_accept": can_decide and not run_closed and is_suggested,
        "can_reject": can_decide and not run_closed and match.status != MatchStatus.REJECTED,
        "run_closed": run_closed,
        "next_url": review_url(following, run_id) if following else "",
        "queue_url": review_url(None, run_id),
        "change_url": admin_url(match),
        "form_action": review_url(match, run_id),
    }


def _detail_line(detail: Any, currency: str) -> str:
    if not isinstance(detail, dict):
        return str(detail)
    amount = detail.get("amount")
    parts = [
        f"{money(Decimal(str(amount)), detail.get('currency') or currency)} "
        f"{detail.get('currency') or currency}"
        if amount not in (None, "")
        else "",
        str(detail.get("counterparty_name") or ""),
        str(detail.get("end_to_end_id") or ""),
        str(detail.get("remittance") or ""),
    ]
    return " · ".join(p for p in parts if p)


# --- items ----------------------------------------------------------------------------------


def close_items(
    request: HttpRequest, entries: Iterable[SourceEntry], *, reason: str, note: str
) -> tuple[int, int]:
    """source_entry_close per item; DomainErrors and foreign items become error messages."""
    from reconciliation.services.items import source_entry_close

    done = failed = 0
    for entry in entries:
        if not can(
            request,
            "reconciliation.close_sourceentry",
            entry.ledger.organization_id,
            MembershipRole.REVIEWER,
        ):
            messages.error(request, f"Item {entry}: your role does not allow closing it.")
            failed += 1
            continue
        try:
            source_entry_close(
                entry=entry,
                ledger_id=entry.ledger_id,
                reason=reason,
                note=note,
                actor=request.user,
            )
        except DomainError as exc:
            report(request, exc, prefix=f"Item {entry}: ")
            failed += 1
        else:
            done += 1
    return done, failed


def close_items_page(
    model_admin: ModelAdmin,
    request: HttpRequest,
    entries: QuerySet[SourceEntry],
    form: CloseItemsForm,
    *,
    action: str | None,
    single: SourceEntry | None = None,
) -> TemplateResponse:
    live = MatchSourceLink.objects.filter(source_entry_id=OuterRef("pk"), is_active=True)
    rows = list(
        entries.select_related("run__ledger", "run__account").annotate(in_match=Exists(live))[:500]
    )
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Close items",
        "subtitle": f"{len(rows)} item{'s' if len(rows) != 1 else ''}",
        "opts": model_admin.opts,
        "form": form,
        "items": [
            {
                "entry": e,
                "amount": money(e.amount, e.currency),
                "url": admin_url(e),
                "closable": e.match_status == SourceEntryMatchStatus.UNMATCHED and not e.in_match,
            }
            for e in rows
        ],
        "more": max(entries.count() - len(rows), 0) if len(rows) == 500 else 0,
        "action": action,
        "single": single,
        "selected": request.POST.getlist("_selected_action"),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": "_selected_action",
    }
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, "admin/reconciliation/sourceentry/close_items.html", context)


def item_close_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """One item: the same reason form as the changelist action, from its change page."""
    entry = model_admin.get_object(request, object_id)
    if entry is None:
        raise Http404("Item not found.")
    require(
        request,
        "reconciliation.close_sourceentry",
        entry.ledger.organization_id,
        MembershipRole.REVIEWER,
    )
    form = CloseItemsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        done, _ = close_items(
            request, [entry], reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]
        )
        if done:
            reason = CloseReason(form.cleaned_data["reason"]).label
            messages.success(request, f"Item closed: {reason.lower()}.")
        return HttpResponseRedirect(admin_url(entry))
    qs = model_admin.get_queryset(request).filter(pk=entry.pk)
    return close_items_page(model_admin, request, qs, form, action=None, single=entry)


def item_reopen_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    from reconciliation.services.items import source_entry_reopen

    entry = model_admin.get_object(request, object_id)
    if entry is None:
        raise Http404("Item not found.")
    require(
        request,
        "reconciliation.close_sourceentry",
        entry.ledger.organization_id,
        MembershipRole.REVIEWER,
    )
    try:
        source_entry_reopen(entry=entry, actor=request.user)
    except DomainError as exc:
        report(request, exc, prefix=f"Item {entry}: ")
    else:
        messages.success(request, f"Item {entry} reopened.")
    return HttpResponseRedirect(admin_url(entry))


def status_badge(value: str, label: str) -> str:
    return format_html('<span class="recon-badge recon-{}">{}</span>', value, label)
