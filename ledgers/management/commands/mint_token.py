from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ledgers.choices import MembershipRole
from ledgers.services import user_setup


class Command(BaseCommand):
    help = "Create or update a user with an organization and role, and print its API token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--organization", "--org", required=True)
        parser.add_argument("--role", choices=MembershipRole.values, default=MembershipRole.VIEWER)
        parser.add_argument("--password", help="set this password (default: leave as is)")
        parser.add_argument("--staff", action="store_true", help="allow admin site login")

    def handle(self, *args: Any, **options: Any) -> None:
        _user, _org, token = user_setup(
            username=options["username"],
            organization_name=options["organization"],
            role=options["role"],
            password=options["password"],
            staff=options["staff"],
        )
        self.stdout.write(token)
