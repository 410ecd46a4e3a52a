"""One composite foreign key for an item's file, run and ledger (issue #17).

Every imported row paid three deferred foreign-key checks at commit for what is one
fact: the item belongs to its source file, and the file's run and ledger are the item's.
(source_file_id, run_id, ledger_id) -> source file (id, run_id, ledger_id) checks all
three with one index probe and one row lock per row, and also rejects an item whose run
or ledger is not its file's, which three separate keys let through. Deferred like
Django's own keys, so a bulk COPY is checked once, at commit.
"""

import django.db.models.deletion
from django.db import migrations, models

CONSTRAINT = "source_entry_file_run_ledger_fk"


class Migration(migrations.Migration):
    dependencies = [
        ("ledgers", "0006_ledger_reference_tolerance"),
        ("reconciliation", "0011_perf_hot_status"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="sourcefile",
            constraint=models.UniqueConstraint(
                fields=("id", "run", "ledger"), name="source_file_id_run_ledger_unique"
            ),
        ),
        migrations.AlterField(
            model_name="sourceentry",
            name="ledger",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="ledgers.ledger",
            ),
        ),
        migrations.AlterField(
            model_name="sourceentry",
            name="run",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="source_entries",
                to="reconciliation.run",
            ),
        ),
        migrations.AlterField(
            model_name="sourceentry",
            name="source_file",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="entries",
                to="reconciliation.sourcefile",
            ),
        ),
        migrations.RunSQL(
            f"ALTER TABLE reconciliation_sourceentry ADD CONSTRAINT {CONSTRAINT} "
            "FOREIGN KEY (source_file_id, run_id, ledger_id) "
            "REFERENCES reconciliation_sourcefile (id, run_id, ledger_id) "
            "DEFERRABLE INITIALLY DEFERRED",
            f"ALTER TABLE reconciliation_sourceentry DROP CONSTRAINT {CONSTRAINT}",
        ),
    ]
