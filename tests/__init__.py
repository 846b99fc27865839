"""xsz's test suite. Tests that need ../shared (fixtures written by the original
pysz, real nanopore files) skip with a clear reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("XSZ_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "pysz-0.4.0"
DATA = SHARED / "data"
FIXTURE_NAMES = ("basic", "alltypes", "signal_int16", "empty")

requires_shared = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"needs the shared fixtures at {FIXTURES} (set XSZ_SHARED to their parent)",
)
requires_data = pytest.mark.skipif(
    not (DATA / "signal_sample.npz").is_file(),
    reason=f"needs the real nanopore data at {DATA} (set XSZ_SHARED to its parent)",
)
