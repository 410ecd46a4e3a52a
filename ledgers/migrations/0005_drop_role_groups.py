"""The admin's roles come from memberships alone (ledgers.admin.base.TenantAdmin.roles); the
permission groups `sync_groups` used to keep in step with them are no longer read. Remove
the three it created so nobody mistakes them for the source of truth."""

from django.db import migrations

ROLE_GROUPS = ("viewer", "reviewer", "admin")


def drop_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("ledgers", "0004_account_opening_balance"),
    ]

    operations = [migrations.RunPython(drop_role_groups, migrations.RunPython.noop)]
