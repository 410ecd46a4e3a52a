"""Design overview: the matching engine (pure Python; no Django, no ORM).

Entry point: ``engine.match(source=..., ledger=..., settings=..., forbidden_pairs=...)``
takes plain rows (``types.EntryRow``: free bank entries and free GL entries) and returns
``types.MatchResult``: proposals with a 0-100 score, a per-criterion explanation, the
ambiguity flag and the auto-accept decision. The calling service persists them.
``taken_source``/``taken_ledger`` are entries already in live matches: never proposed,
but counted when a group search asks whether a combination is the only one, so a rerun
judges against the candidates the first pass saw and creates nothing new.

Modules, in the order the engine uses them:

- ``references``: reference keys of a row (end-to-end ids, creditor references with RF
  check digits, Swiss QR references, invoice numbers found after an invoice keyword, and
  reference-like tokens of free text), normalised so that ``INV-4711`` and
  ``Invoice 4711`` agree while short numbers never do.
- ``scoring``: row features (computed once per row) and the pair score. Dates count
  business days (Monday to Friday; a weekend day is the Monday after it). Weights: amount
  45 (exact) / 40 (a difference the bank's charges or instructed amount explain) / 30-40
  (within the ledger's tolerance, or, with a shared reference, within the fee tolerance
  of 2 % and 25.00 by default), date 15 (same day) down to 10 (window's edge),
  reference 35 (full) / 30 (invoice number), counterparty 30 (IBAN) / 25-10 (name
  similarity, legal suffixes dropped), description 5. Reference and counterparty share
  35 points, so exact + same day + reference = 95, exact + same day + IBAN = 90, exact +
  same day and nothing else = 60-65: a bare amount coincidence never reaches the 90 of
  auto-accept.
- ``groups.find_reversals``: reversal + original on the bank side (same currency,
  opposite amount, shared reference, or same counterparty/description within the date
  window); they need no GL entry. Marked ones (RvslInd, or a return/storno word) are
  taken out first, unmarked pairs sharing an end-to-end id from what the GL left.
- ``candidates``: 1:1 candidate pairs from two sorted int64 indexes searched with
  ``numpy.searchsorted`` (never an all-pairs scan): exact amounts by (currency, day,
  amount), and amounts within tolerance by (evidence key, currency, amount), since a
  difference is only a candidate with a shared reference, IBAN or name. Crowded
  equal-amount buckets (skewed data) keep evidence pairs plus the 4 nearest by date, so
  the pair count stays linear. Then every pair is scored (amount and date vectorised).
- ``assignment``: the global maximum-weight 1:1 assignment (each pair's score above a
  baseline of 50, so two coincidences never outweigh one proven payment) per connected
  component
  (direct for 1x1/1xk, ``linear_sum_assignment`` for small components, the exact sparse
  LAPJVsp solver on a doubled graph for large ones, date chunks above 60,000 rows), and
  the ambiguity flag: an alternative assignment with the same total reachable by moving
  one entry to a free partner or swapping two pairs.
- ``groups.find_groups``: on what 1:1 left, 1:N batches (transaction details first,
  then shared-evidence pools, strongest evidence first) and N:1 splits (members sharing
  a reference may lie up to `reference_window_days` away), by bounded subset-sum
  (2..max_group_size entries, the only combination that fits, node budget per target);
  then payment runs without details in busy windows: the only set of GL entries posted
  on one day that adds up, by meet-in-the-middle, runs of one day decided jointly.
- ``engine``: orchestration, determinism (inputs sorted by id first; every tie is broken
  on ids), auto-accept = score >= threshold and not ambiguous and difference == 0.

Test data lives outside the app, in the top-level ``benchmarks`` package:
``benchmarks.synthetic``, a seeded generator of bank/GL rows with a known truth set
(exact, shifted, fee, batch, split, reversal, ambiguous twins, noise; optional skew) for
the engine's tests and the benchmark command, and ``benchmarks.truth_month``, a month of
one account with a known truth set, written as camt.053 and as a German bank CSV, for
measuring the whole product (``benchmarks.truth``: parsers, import, auto-match,
discrepancies).

Money is ``Decimal`` in and out; inside, amounts are exact integer micro-units (the amount
columns hold 6 decimals), never floats. Scores are ints; only the assignment solvers see
them as floats.
"""
