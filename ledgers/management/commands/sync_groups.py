from typing import Any

from django.core.management.base import BaseCommand

from ledgers.permissions import sync_groups


class Command(BaseCommand):
    help = "Create/update the admin permission groups (viewer, reviewer, admin). Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        for role, count in sync_groups().items():
            self.stdout.write(f"{role}: {count} permissions")
