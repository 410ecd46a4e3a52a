"""Where the real bank files live: `tests/fixtures/statements/`, inside the repository.

Provenance, licences and notes on each file: `tests/fixtures/statements/SOURCES.md`.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures" / "statements"
