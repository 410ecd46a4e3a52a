"""Where the shared, read-only bank files live: `../shared/fixtures` beside the project.

CI clones the project elsewhere with `shared/` beside it, so the path is computed from this
file, never hard-coded; `RECON_FIXTURES_DIR` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

FIXTURES_DIR = Path(
    os.environ.get("RECON_FIXTURES_DIR")
    or Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
)
