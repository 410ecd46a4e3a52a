"""`manage.py import_statement RUN_ID FILE`: the upload service from the command line."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledgers.exceptions import DomainError
from reconciliation.models import Run, SourceEntry
from reconciliation.services.imports import csv_mapping_from, source_file_upload_path


class _Progress:
    """A progress line on stderr while the import transaction runs.

    The import is one transaction, so progress is read from this process's own counter
    of streamed bytes (the file handle's position), not from the database.
    """

    def __init__(self, handle: Any, total: int) -> None:
        self.handle, self.total = handle, max(total, 1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self.stop.wait(0.5):
            try:
                done = min(self.handle.tell(), self.total)
            except (ValueError, OSError):
                return
            width = 30
            filled = int(width * done / self.total)
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] "
                f"{100 * done // self.total:3d}%  {time.monotonic() - started:6.1f}s"
            )
            sys.stderr.flush()

    def __enter__(self) -> _Progress:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        sys.stderr.write("\n")


class Command(BaseCommand):
    help = "Import a statement file (camt.053 or CSV) into a run, as the upload route does."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("run_id")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=["csv", "camt.053"])
        parser.add_argument("--mapping", help="CSV column mapping as JSON")
        parser.add_argument("--allow-duplicate", action="store_true")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file")
        run = Run.objects.select_related("ledger", "account").filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(f"run {options['run_id']} not found")
        try:
            mapping = csv_mapping_from(options["mapping"]) if options["mapping"] else None
            with path.open("rb") as handle:
                progress: Any = (
                    contextlib.nullcontext()
                    if options["no_progress"]
                    else _Progress(handle, path.stat().st_size)
                )
                with progress:
                    result = source_file_upload_path(
                        run=run,
                        path=path,
                        actor=None,
                        file_format=options["format"],
                        mapping=mapping,
                        allow_duplicate=options["allow_duplicate"],
                        stream=handle,
                    )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from None
        self.stdout.write(
            f"imported {result.imported} entries into run {run.pk} "
            f"(skipped duplicates {result.skipped_duplicates}, skipped {result.skipped}; "
            f"{SourceEntry.objects.filter(run=run).count()} in the run)"
        )
