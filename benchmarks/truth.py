"""The truth month through the whole product: parse, import, auto-match, discrepancies.

`truth_run()` creates a ledger with one account, pushes the month's GL entries, creates a
run bound to the account, uploads the month as camt.053 or as a German bank CSV through
`source_file_upload()`, runs `run_auto_match()` and then reads back what a reviewer would
see (matches, their status, difference and ambiguity flag, and the discrepancies), scoring
it against the month's truth (`benchmarks.truth_month`).

Figures (`TruthFigures`), all on the month's truth units (a unit is one constructed
match; noise is not a unit):

- precision / recall / f1: a proposal is correct when its exact (bank lines, GL lines)
  group is a unit (twins: either pairing);
- link precision / recall / f1: the same on links (bank line - GL line, and bank - bank
  for a reversal pair), so a batch found with one part wrong still scores its other parts;
- auto-accept precision, and `ambiguous_auto_accepted` (auto-accepted proposals flagged
  ambiguous or belonging to twins, which are ambiguous by construction);
- automation: correct auto-accepts / truth units, the share of the month nobody has to
  look at;
- fee cases: suggested (never accepted) with difference = bank - GL, and an
  `amount_mismatch` discrepancy of that amount;
- false missing: `missing_in_ledger` / `missing_in_statement` raised for an entry that has
  a partner in the truth; expected missing: GL entries in the period without a partner
  that did get `missing_in_statement` (the month's last, weekend, days included: only the
  statement's own period covers them).
"""

from __future__ import annotations

import io
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from benchmarks.truth_month import (
    FEE_TOLERANCE,
    Month,
    decimal_of,
    render_camt053,
    render_csv,
)
from ledgers.models import Ledger, LedgerEntry, Organization
from ledgers.services import (
    LedgerEntryInput,
    account_create,
    ledger_create,
    ledger_entries_create,
)
from reconciliation.choices import DiscrepancyKind, MatchStatus
from reconciliation.models import Discrepancy, Match, SourceEntry, Statement
from reconciliation.services.auto_match import run_auto_match
from reconciliation.services.imports import source_file_upload
from reconciliation.services.runs import run_create

GL_CHUNK = 10_000


@dataclass(slots=True, kw_only=True)
class TruthFigures:
    file_format: str
    units: int
    proposals: int
    correct: int
    precision: float
    recall: float
    f1: float
    link_precision: float
    link_recall: float
    link_f1: float
    auto_accepted: int
    auto_correct: int
    auto_accept_precision: float
    ambiguous_auto_accepted: int
    automation: float
    fee_cases: int
    fee_suggested_right: int
    false_missing_in_ledger: int
    false_missing_in_statement: int
    expected_missing_in_statement: int
    found_missing_in_statement: int
    missing_outside_period: int
    balance_findings: int
    statement: dict[str, Any] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)
    wrong: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def truth_run(
    *,
    month: Month,
    file_format: str,
    organization: Organization,
    actor: AbstractBaseUser | None,
    ledger_name: str | None = None,
) -> TruthFigures:
    """Send `month` through import, auto-match and discrepancies on a fresh ledger (named
    `ledger_name`, else uniquely)."""
    settings: dict[str, Any] = {}
    if month.tolerance:
        settings["amount_tolerance_abs"] = FEE_TOLERANCE
    ledger = ledger_create(
        organization=organization,
        name=ledger_name or f"truth {file_format} {uuid.uuid4().hex[:12]}",
        currency="EUR",
        actor=actor,
        **settings,
    )
    account = account_create(
        ledger=ledger,
        name="Geschaeftskonto",
        code="1200",
        currency="EUR",
        iban=month.account_iban,
        actor=actor,
    )
    items = [
        LedgerEntryInput(
            external_id=g.key,
            amount=decimal_of(g.cents),
            currency="EUR",
            booking_date=g.booking_date,
            account_id=account.pk,
            reference=g.reference,
            description=g.description,
            counterparty=g.counterparty,
        )
        for g in month.gl
    ]
    for start in range(0, len(items), GL_CHUNK):
        ledger_entries_create(ledger=ledger, items=items[start : start + GL_CHUNK], actor=actor)
    run = run_create(ledger=ledger, account=account, note="truth month", actor=actor)
    if file_format == "csv":
        data, where = render_csv(month)
        filename = "umsaetze-2024-03.csv"
    else:
        data, where = render_camt053(month)
        filename = "statement-2024-03.camt053.xml"
    source_file_upload(
        run=run, stream=io.BytesIO(data), filename=filename, size=len(data), actor=actor
    )
    run_auto_match(run=run, actor=actor)
    return _score(month=month, ledger=ledger, run_id=run.pk, where=where, file_format=file_format)


def _score(
    *, month: Month, ledger: Ledger, run_id: uuid.UUID, where: dict[int, str], file_format: str
) -> TruthFigures:
    bank_of = {
        pk: where[line]
        for pk, line in SourceEntry.objects.filter(run_id=run_id).values_list("pk", "line")
    }
    gl_of = dict(LedgerEntry.objects.filter(ledger=ledger).values_list("pk", "external_id"))
    matches = list(
        Match.objects.filter(run_id=run_id)
        .exclude(status=MatchStatus.REJECTED)
        .prefetch_related("source_links", "ledger_links")
    )
    unit_of_group: dict[tuple[tuple[str, ...], tuple[str, ...]], Any] = {
        (u.bank, u.gl): u for u in month.units
    }
    twin_of_bank = {u.bank[0]: u.twin for u in month.units if u.twin >= 0}
    twin_of_gl = {u.gl[0]: u.twin for u in month.units if u.twin >= 0}
    partner = {u.bank[0]: u.gl[0] for u in month.units if u.twin >= 0}

    def unit_for(bank: tuple[str, ...], gl: tuple[str, ...]) -> Any:
        found = unit_of_group.get((bank, gl))
        if found is None and len(bank) == 1 and len(gl) == 1:
            twin = twin_of_bank.get(bank[0], -1)
            if twin >= 0 and twin_of_gl.get(gl[0]) == twin:
                return unit_of_group[(bank, (partner[bank[0]],))]
        return found

    found_units: set[int] = set()
    correct = auto = auto_correct = ambiguous_auto = 0
    predicted_links: set[tuple[str, str]] = set()
    wrong: Counter[str] = Counter()
    proposal_of_unit: dict[int, Match] = {}
    for m in matches:
        bank = tuple(sorted(bank_of[link.source_entry_id] for link in m.source_links.all()))
        gl = tuple(sorted(gl_of[link.ledger_entry_id] for link in m.ledger_links.all()))
        unit = unit_for(bank, gl)
        accepted = m.status == MatchStatus.ACCEPTED
        auto += accepted
        if unit is not None:
            correct += 1
            found_units.add(id(unit))
            proposal_of_unit[id(unit)] = m
            auto_correct += accepted
        else:
            wrong[m.shape] += 1
        if accepted and (m.is_ambiguous or any(b in twin_of_bank for b in bank)):
            ambiguous_auto += 1
        predicted_links.update(_links(bank, gl, twin_of_bank, twin_of_gl, partner))
    truth_links: set[tuple[str, str]] = set()
    for u in month.units:
        truth_links.update(_links(u.bank, u.gl, {}, {}, {}))
    units = len(month.units)
    missed = Counter(u.kind for u in month.units if id(u) not in found_units)

    fee_units = [u for u in month.units if u.kind in ("fee", "fee_tolerance")]
    mismatch = dict(
        Discrepancy.objects.filter(
            run_id=run_id, kind=DiscrepancyKind.AMOUNT_MISMATCH, is_current=True
        ).values_list("match_id", "amount")
    )
    fee_right = 0
    for u in fee_units:
        m = proposal_of_unit.get(id(u))
        expected = decimal_of(u.difference_cents)
        if (
            m is not None
            and m.status == MatchStatus.SUGGESTED
            and m.difference == expected
            and mismatch.get(m.pk) == expected
        ):
            fee_right += 1

    partnered_bank = {b for u in month.units for b in u.bank}
    partnered_gl = {g for u in month.units for g in u.gl}
    missing = Discrepancy.objects.filter(run_id=run_id, is_current=True)
    false_ledger = sum(
        bank_of[e] in partnered_bank
        for e in missing.filter(kind=DiscrepancyKind.MISSING_IN_LEDGER).values_list(
            "source_entry_id", flat=True
        )
    )
    statement_missing = {
        gl_of[e]
        for e in missing.filter(kind=DiscrepancyKind.MISSING_IN_STATEMENT).values_list(
            "ledger_entry_id", flat=True
        )
    }
    in_period = {g.key for g in month.gl if month.period_from <= g.booking_date <= month.period_to}
    balance_findings = missing.filter(kind=DiscrepancyKind.BALANCE_MISMATCH).count()
    statement = (
        Statement.objects.filter(source_file__run_id=run_id)
        .values("period_from", "period_to", "opening_balance", "closing_balance", "entry_count")
        .first()
        or {}
    )
    tp_links = len(predicted_links & truth_links)
    precision = correct / len(matches) if matches else 0.0
    recall = len(found_units) / units if units else 0.0
    link_precision = tp_links / len(predicted_links) if predicted_links else 0.0
    link_recall = tp_links / len(truth_links) if truth_links else 0.0
    return TruthFigures(
        file_format=file_format,
        units=units,
        proposals=len(matches),
        correct=correct,
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(_f1(precision, recall), 4),
        link_precision=round(link_precision, 4),
        link_recall=round(link_recall, 4),
        link_f1=round(_f1(link_precision, link_recall), 4),
        auto_accepted=auto,
        auto_correct=auto_correct,
        auto_accept_precision=round(auto_correct / auto, 4) if auto else 1.0,
        ambiguous_auto_accepted=ambiguous_auto,
        automation=round(auto_correct / units, 4) if units else 0.0,
        fee_cases=len(fee_units),
        fee_suggested_right=fee_right,
        false_missing_in_ledger=false_ledger,
        false_missing_in_statement=len(statement_missing & partnered_gl),
        expected_missing_in_statement=len(month.gl_in_period_without_partner),
        found_missing_in_statement=len(statement_missing & month.gl_in_period_without_partner),
        missing_outside_period=len(statement_missing - in_period),
        balance_findings=balance_findings,
        statement={
            key: str(value) if isinstance(value, Decimal) else value
            for key, value in statement.items()
        },
        missed=dict(missed),
        wrong=dict(wrong),
    )


def _links(
    bank: tuple[str, ...],
    gl: tuple[str, ...],
    twin_of_bank: dict[str, int],
    twin_of_gl: dict[str, int],
    partner: dict[str, str],
) -> set[tuple[str, str]]:
    """Links of one group; a twin pairing counts as its constructed partner's link."""
    if not gl:
        return {(a, b) for a in bank for b in bank if a < b}
    out = set()
    for b in bank:
        for g in gl:
            twin = twin_of_bank.get(b, -1)
            if twin >= 0 and twin_of_gl.get(g) == twin:
                g = partner[b]
            out.add((b, g))
    return out


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def figures_by_kind(month: Month) -> dict[str, int]:
    counts: defaultdict[str, int] = defaultdict(int)
    for unit in month.units:
        counts[unit.kind] += 1
    return dict(counts)
