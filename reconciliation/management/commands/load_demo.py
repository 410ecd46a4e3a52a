"""`make run`'s demo data: idempotent, so running it on every start changes nothing twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ledgers.choices import MembershipRole
from ledgers.models import Account, Ledger
from ledgers.services import (
    LedgerEntryInput,
    account_create,
    ledger_create,
    ledger_entries_create,
    user_setup,
)
from reconciliation.demo import (
    DEMO_CURRENCY,
    DEMO_IBAN,
    OPENING_BALANCE,
    PERIOD_START,
    build_demo,
    demo_statement_xml,
)

DEMO_FILE = Path(settings.BASE_DIR) / "demo" / "statement-2026-11.camt053.xml"


class Command(BaseCommand):
    help = "Create the Demo organization, user demo/demo, a ledger with GL entries and a run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        user, organization, token = user_setup(
            username="demo",
            organization_name="Demo",
            role=MembershipRole.ADMIN,
            password="demo",  # noqa: S106 -- the documented demo login
            staff=True,
        )
        ledger = Ledger.objects.filter(organization=organization, name="Demo ledger").first()
        if ledger is None:
            ledger = ledger_create(
                organization=organization,
                name="Demo ledger",
                currency=DEMO_CURRENCY,
                actor=user,
                amount_tolerance_abs=5,
            )
        account = Account.objects.filter(ledger=ledger, code="1200").first()
        if account is None:
            account = account_create(
                ledger=ledger,
                name="Main EUR account",
                code="1200",
                currency=DEMO_CURRENCY,
                iban=DEMO_IBAN,
                # The bank's opening balance is the book's too at the start of the month,
                # so the demo's reconciliation report balances once every item is decided.
                opening_balance=OPENING_BALANCE,
                opening_balance_date=PERIOD_START,
                actor=user,
            )
        data = build_demo()
        result = ledger_entries_create(
            ledger=ledger,
            items=[
                LedgerEntryInput(
                    external_id=e.external_id,
                    amount=e.amount,
                    currency=DEMO_CURRENCY,
                    booking_date=e.booking_date,
                    account_id=account.pk,
                    reference=e.reference,
                    description=e.description,
                    counterparty=e.counterparty,
                )
                for e in data.gl
            ],
            actor=user,
        )
        if not DEMO_FILE.exists() or DEMO_FILE.read_bytes() != demo_statement_xml(data):
            DEMO_FILE.parent.mkdir(parents=True, exist_ok=True)
            DEMO_FILE.write_bytes(demo_statement_xml(data))
        self._demo_run(ledger=ledger, account=account, user=user)
        base = f"http://{options['host']}:{options['port']}"
        self.stdout.write(
            f"Demo data ready: ledger {ledger.pk}, {result.created} new GL entries "
            f"({len(data.gl)} in all).\n"
            f"  API:      {base}/v1/\n  API docs: {base}/v1/docs\n"
            f"  Admin:    {base}/admin/  (user demo / password demo)\n"
            f"  Token:    {token}\n"
            f"  Try:      curl -s -H 'Authorization: Token {token}' {base}/v1/ledgers\n"
        )

    def _demo_run(self, *, ledger: Ledger, account: Account, user: Any) -> None:
        """A November run with the demo statement imported and auto-matched (once)."""
        from reconciliation.models import Run
        from reconciliation.services.imports import source_file_upload_path
        from reconciliation.services.runs import run_create

        if Run.objects.filter(ledger=ledger).exists():
            return
        run = run_create(
            ledger=ledger,
            account=account,
            mode="automatic",
            note="November 2026 (demo)",
            actor=user,
        )
        source_file_upload_path(run=run, path=DEMO_FILE, actor=user)
