"""Unit tests of the de-identification engine (functions/ingestion/deid)."""

import sys
from pathlib import Path

# The repository root must be importable however pytest was started.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
