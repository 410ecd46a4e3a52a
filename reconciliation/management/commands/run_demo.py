"""`make run` in one process: migrate when a migration is pending, load the demo data,
serve with runserver.

Three commands (migrate, load_demo, runserver) paid Django's start-up three times: most
of a second `make run`. Here it is paid once, and migrate only runs when the database
is behind the code.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def pending_migrations() -> int:
    """How many migrations the database has not applied yet."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


class Command(BaseCommand):
    help = "Migrate if needed, load the demo data and serve the development server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--no-serve", action="store_true", help="stop after the demo data")

    def handle(self, *args: Any, **options: Any) -> None:
        pending = pending_migrations()
        if pending:
            self.stdout.write(f"Applying {pending} migration(s) ...")
            call_command("migrate", interactive=False, verbosity=0)
        call_command("load_demo", host=options["host"], port=options["port"], stdout=self.stdout)
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # No worker and no beat: matching a previous server left unfinished is done now.
            from reconciliation.services.match_requests import match_requests_recover_in_process

            match_requests_recover_in_process()
        if options["no_serve"]:
            return
        # The checks ran when this command started; runserver would run them again.
        call_command(
            "runserver",
            f"{options['host']}:{options['port']}",
            use_reloader=False,
            skip_checks=True,
        )
