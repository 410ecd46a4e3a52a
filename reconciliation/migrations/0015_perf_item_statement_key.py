"""One composite foreign key per item, through its statement (issue #17).

Since 0012 every imported row paid two deferred foreign-key checks at commit: its
(file, run, ledger) against the source file, and its statement. Each is a trigger, an
index probe and a row lock per row: about 3 s per key at commit of a million-row import
(measured: COPY of 1M items, commit 6.1 s with both keys, 3.3 s with one). A statement
belongs to exactly one file, so one key says it all:

    item (statement_id, source_file_id, run_id, ledger_id)
        -> statement (id, source_file_id, run_id, ledger_id)
    statement (source_file_id, run_id, ledger_id)
        -> source file (id, run_id, ledger_id)

The statement gains the run (denormalised from its file, as the items' is; its ledger is
set from the file too, which it always was), and an item
must have a statement: every import has always written one per file (a CSV's whole file
is one), so only rows written some other way can lack it; those get one statement per
file here, without balances or sequence numbers, so no statement check reports on it.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Max, Min, Sum

ITEM_KEY = "source_entry_statement_fk"
OLD_ITEM_KEY = "source_entry_file_run_ledger_fk"
STATEMENT_KEY = "statement_file_run_ledger_fk"


def statements_for_loose_items(apps, schema_editor):
    SourceEntry = apps.get_model("reconciliation", "SourceEntry")
    Statement = apps.get_model("reconciliation", "Statement")
    loose = SourceEntry.objects.filter(statement__isnull=True)
    files = (
        loose.values("source_file_id", "run_id", "ledger_id")
        .annotate(
            n=Count("pk"),
            total=Sum("amount"),
            first_key=Min("account_key"),
            last_key=Max("account_key"),
            first_currency=Min("currency"),
            last_currency=Max("currency"),
        )
        .order_by("source_file_id")
    )
    for f in files:
        taken = Statement.objects.filter(source_file_id=f["source_file_id"]).aggregate(
            top=Max("index")
        )["top"]
        statement = Statement.objects.create(
            source_file_id=f["source_file_id"],
            run_id=f["run_id"],
            ledger_id=f["ledger_id"],
            index=0 if taken is None else taken + 1,
            account_key=f["first_key"] if f["first_key"] == f["last_key"] else "",
            currency=f["first_currency"] if f["first_currency"] == f["last_currency"] else "",
            entry_count=f["n"],
            entry_sum=f["total"],
        )
        loose.filter(source_file_id=f["source_file_id"]).update(statement_id=statement.pk)


def _unchecked_key(
    to: str, related_name: str, *, db_index: bool = True, null: bool = False
) -> models.ForeignKey:
    """A key Django knows but leaves unconstrained: the composite keys below check it."""
    return models.ForeignKey(
        to,
        on_delete=django.db.models.deletion.CASCADE,
        related_name=related_name,
        db_constraint=False,
        db_index=db_index,
        null=null,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("ledgers", "0007_perf_hot_status"),
        ("reconciliation", "0014_match_part_rerun"),
    ]

    operations = [
        # The data steps below would otherwise leave deferred key checks pending on the
        # tables this migration then alters, which PostgreSQL refuses.
        migrations.RunSQL("SET CONSTRAINTS ALL IMMEDIATE", migrations.RunSQL.noop),
        migrations.AddField(
            model_name="statement",
            name="run",
            field=_unchecked_key("reconciliation.run", "+", db_index=False, null=True),
        ),
        migrations.RunSQL(
            "UPDATE reconciliation_statement s SET run_id = f.run_id, ledger_id = f.ledger_id "
            "FROM reconciliation_sourcefile f WHERE f.id = s.source_file_id",
            migrations.RunSQL.noop,
        ),
        migrations.RunPython(statements_for_loose_items, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="statement",
            name="run",
            field=_unchecked_key("reconciliation.run", "+", db_index=False),
        ),
        migrations.AlterField(
            model_name="statement",
            name="ledger",
            field=_unchecked_key("ledgers.ledger", "+"),
        ),
        migrations.AlterField(
            model_name="statement",
            name="source_file",
            field=_unchecked_key("reconciliation.sourcefile", "statements"),
        ),
        migrations.AddConstraint(
            model_name="statement",
            constraint=models.UniqueConstraint(
                fields=("id", "source_file", "run", "ledger"), name="statement_key_unique"
            ),
        ),
        migrations.RunSQL(
            f"ALTER TABLE reconciliation_statement ADD CONSTRAINT {STATEMENT_KEY} "
            "FOREIGN KEY (source_file_id, run_id, ledger_id) "
            "REFERENCES reconciliation_sourcefile (id, run_id, ledger_id) "
            "DEFERRABLE INITIALLY DEFERRED",
            f"ALTER TABLE reconciliation_statement DROP CONSTRAINT {STATEMENT_KEY}",
        ),
        migrations.AlterField(
            model_name="sourceentry",
            name="statement",
            field=_unchecked_key("reconciliation.statement", "entries"),
        ),
        migrations.RunSQL(
            f"ALTER TABLE reconciliation_sourceentry DROP CONSTRAINT {OLD_ITEM_KEY}; "
            f"ALTER TABLE reconciliation_sourceentry ADD CONSTRAINT {ITEM_KEY} "
            "FOREIGN KEY (statement_id, source_file_id, run_id, ledger_id) "
            "REFERENCES reconciliation_statement (id, source_file_id, run_id, ledger_id) "
            "DEFERRABLE INITIALLY DEFERRED",
            f"ALTER TABLE reconciliation_sourceentry DROP CONSTRAINT {ITEM_KEY}; "
            f"ALTER TABLE reconciliation_sourceentry ADD CONSTRAINT {OLD_ITEM_KEY} "
            "FOREIGN KEY (source_file_id, run_id, ledger_id) "
            "REFERENCES reconciliation_sourcefile (id, run_id, ledger_id) "
            "DEFERRABLE INITIALLY DEFERRED",
        ),
    ]
