"""Item fingerprints compare byte by byte (issue #17).

A fingerprint is a hex digest and an occurrence count, only ever compared for equality
(the duplicate lookup of an import, the duplicate_entry check). Under the database's
language collation every comparison in its index went through strcoll. COPY of 1M items
into a twin table with only this index, PostgreSQL 15: 4.5 s with "C", 5.0-5.3 s with
Debian's C.UTF-8, 5.7-6.0 s with an en-US collation (the postgres image's default is
en_US.utf8); a bare COPY is 1.7 s. The column keeps its type: no table rewrite, the
index is rebuilt.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0015_perf_item_statement_key"),
    ]

    operations = [
        migrations.AlterField(
            model_name="sourceentry",
            name="fingerprint",
            field=models.CharField(db_collation="C", max_length=64),
        ),
    ]
