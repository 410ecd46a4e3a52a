"""SQL integrity checks over runs, matches, links, statuses and imports.

`integrity_violations()` answers, for the whole database or one run, the questions a fault
must never leave behind: an entry in two live matches, a match whose totals are not its
links', an open "missing" discrepancy on an entry that is matched, a derived status that
disagrees with the links, a match without links, an entry or file imported twice, and a
run `running` with nothing owed to a worker (it would stay `running` forever). Each check
is one query that returns offending ids; an empty list means consistent. A file uploaded
with `allow_duplicate` on purpose shows up as imported twice: the checks describe data the
importer was asked to deduplicate.

The reliability tests (tests/reliability/) run it after every injected fault; it is cheap
enough to run against production data too (`python manage.py shell -c "from
reconciliation.integrity import integrity_violations; print(integrity_violations())"`).
"""

from __future__ import annotations

import uuid

from django.db import connection

# Each: (what is wrong, SQL returning one identifying text per offending row). `{run}` is
# replaced by a filter on the run's id (or TRUE); `{ledger}` by one on its ledger.
_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "bank item in more than one live match",
        """
        SELECT l.source_entry_id::text FROM reconciliation_matchsourcelink l
        JOIN reconciliation_match m ON m.id = l.match_id
        WHERE m.status <> 'rejected' AND {run}
        GROUP BY l.source_entry_id HAVING count(*) > 1
        """,
    ),
    (
        "GL entry in more than one live match",
        """
        SELECT l.ledger_entry_id::text FROM reconciliation_matchledgerlink l
        JOIN reconciliation_match m ON m.id = l.match_id
        WHERE m.status <> 'rejected' AND {ledger}
        GROUP BY l.ledger_entry_id HAVING count(*) > 1
        """,
    ),
    (
        "link is_active disagrees with its match's status",
        """
        SELECT m.id::text FROM reconciliation_match m
        WHERE {run} AND (
            EXISTS (SELECT 1 FROM reconciliation_matchsourcelink l WHERE l.match_id = m.id
                    AND l.is_active <> (m.status <> 'rejected'))
            OR EXISTS (SELECT 1 FROM reconciliation_matchledgerlink l WHERE l.match_id = m.id
                       AND l.is_active <> (m.status <> 'rejected')))
        """,
    ),
    (
        "match totals differ from the sum of its links",
        """
        SELECT m.id::text FROM reconciliation_match m
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(e.amount), 0) AS total FROM reconciliation_matchsourcelink l
            JOIN reconciliation_sourceentry e ON e.id = l.source_entry_id
            WHERE l.match_id = m.id) s ON TRUE
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(e.amount), 0) AS total FROM reconciliation_matchledgerlink l
            JOIN ledgers_ledgerentry e ON e.id = l.ledger_entry_id
            WHERE l.match_id = m.id) g ON TRUE
        WHERE {run} AND (m.source_total <> s.total OR m.ledger_total <> g.total
                         OR m.difference <> m.source_total - m.ledger_total)
        """,
    ),
    (
        "match without any link",
        """
        SELECT m.id::text FROM reconciliation_match m
        WHERE {run}
          AND NOT EXISTS (SELECT 1 FROM reconciliation_matchsourcelink l WHERE l.match_id = m.id)
          AND NOT EXISTS (SELECT 1 FROM reconciliation_matchledgerlink l WHERE l.match_id = m.id)
        """,
    ),
    (
        "open missing_in_ledger discrepancy on a bank item in an accepted match",
        """
        SELECT d.id::text FROM reconciliation_discrepancy d
        JOIN reconciliation_matchsourcelink l ON l.source_entry_id = d.source_entry_id
        JOIN reconciliation_match m ON m.id = l.match_id AND m.status = 'accepted'
        WHERE d.kind = 'missing_in_ledger' AND d.status <> 'closed' AND d.is_current
          AND {run_d}
        """,
    ),
    (
        "open missing_in_statement discrepancy on a GL entry in an accepted match",
        """
        SELECT d.id::text FROM reconciliation_discrepancy d
        JOIN reconciliation_matchledgerlink l ON l.ledger_entry_id = d.ledger_entry_id
        JOIN reconciliation_match m ON m.id = l.match_id AND m.status = 'accepted'
        WHERE d.kind = 'missing_in_statement' AND d.status <> 'closed' AND d.is_current
          AND {run_d}
        """,
    ),
    (
        "bank item match_status disagrees with its accepted matches",
        """
        SELECT e.id::text FROM reconciliation_sourceentry e
        LEFT JOIN LATERAL (
            SELECT bool_or(m.difference = 0) AS exact, count(*) AS n
            FROM reconciliation_matchsourcelink l
            JOIN reconciliation_match m ON m.id = l.match_id
            WHERE l.source_entry_id = e.id AND l.is_active AND m.status = 'accepted') a ON TRUE
        WHERE {run_e} AND e.match_status <> CASE
            WHEN a.exact THEN 'matched' WHEN a.n > 0 THEN 'partial'
            WHEN e.close_reason <> '' THEN 'closed' ELSE 'unmatched' END
        """,
    ),
    (
        "GL entry reconciliation_status disagrees with its accepted matches",
        """
        SELECT e.id::text FROM ledgers_ledgerentry e
        LEFT JOIN LATERAL (
            SELECT bool_or(m.difference = 0) AS exact, count(*) AS n
            FROM reconciliation_matchledgerlink l
            JOIN reconciliation_match m ON m.id = l.match_id
            WHERE l.ledger_entry_id = e.id AND l.is_active AND m.status = 'accepted') a ON TRUE
        WHERE {ledger_e} AND e.reconciliation_status <> CASE
            WHEN a.exact THEN 'reconciled' WHEN a.n > 0 THEN 'partial' ELSE 'unreconciled' END
        """,
    ),
    (
        "one file processed more than once in a ledger",
        """
        SELECT f.ledger_id::text || ' ' || f.sha256 FROM reconciliation_sourcefile f
        WHERE f.status = 'processed' AND {ledger_f}
        GROUP BY f.ledger_id, f.sha256 HAVING count(*) > 1
        """,
    ),
    (
        "bank entry imported twice (same account and fingerprint or bank reference)",
        """
        SELECT min(e.id::text) FROM reconciliation_sourceentry e
        WHERE {ledger_e}
        GROUP BY e.ledger_id, e.account_key,
                 CASE WHEN e.bank_reference <> '' THEN 'ref:' || e.bank_reference
                      ELSE 'fp:' || e.fingerprint END
        HAVING count(DISTINCT e.source_file_id) > 1
        """,
    ),
    (
        "run running with no match owed to a worker",
        """
        SELECT r.id::text FROM reconciliation_run r
        WHERE r.status = 'running' AND {run_r} AND NOT EXISTS (
            SELECT 1 FROM reconciliation_matchrequest q WHERE q.run_id = r.id)
        """,
    ),
)

_SHOWN = 10  # offending ids listed per check; the count is always complete


def integrity_violations(*, run_id: uuid.UUID | None = None) -> list[str]:
    """One line per broken invariant (`what: count [ids…]`), over the whole database or the
    run `run_id` (and, for GL entries and files, its ledger). Empty when consistent."""
    if run_id is None:
        scope = dict.fromkeys(
            ("run", "ledger", "run_d", "run_e", "ledger_e", "ledger_f", "run_r"), "TRUE"
        )
    else:
        # Constant SQL fragments only; the run's id is always a query parameter.
        ledger = "(SELECT ledger_id FROM reconciliation_run WHERE id = %(run)s)"
        in_ledger = "SELECT id FROM reconciliation_run WHERE ledger_id = "
        scope = {
            "run": "m.run_id = %(run)s",
            "ledger": f"m.run_id IN ({in_ledger}{ledger})",
            "run_d": "d.run_id = %(run)s",
            "run_e": "e.run_id = %(run)s",
            "ledger_e": f"e.ledger_id = {ledger}",
            "ledger_f": f"f.ledger_id = {ledger}",
            "run_r": "r.id = %(run)s",
        }
    violations = []
    with connection.cursor() as cursor:
        for what, sql in _CHECKS:
            cursor.execute(sql.format(**scope), None if run_id is None else {"run": run_id})
            found = [row[0] for row in cursor.fetchall()]
            if found:
                shown = ", ".join(found[:_SHOWN]) + (" …" if len(found) > _SHOWN else "")
                violations.append(f"{what}: {len(found)} [{shown}]")
    return violations
