"""xsz's test suite. It writes the stores and files it reads (tests/made.py,
tests/made_data.py); test_pysz_compat and test_real_data run the same tests on
../shared (the original pysz's stores, real nanopore files) and skip, with the
reason, when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("XSZ_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures" / "pysz-0.4.0"
DATA = SHARED / "data"
FIXTURE_NAMES = ("basic", "alltypes", "signal_int16", "empty")

NO_FIXTURES = f"needs the shared fixtures at {FIXTURES} (set XSZ_SHARED to their parent)"
NO_DATA = f"needs the real nanopore data at {DATA} (set XSZ_SHARED to its parent)"
# for a test of its own on ../shared (test_pysz_compat and test_real_data skip as modules)
requires_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason=NO_FIXTURES)
requires_data = pytest.mark.skipif(not (DATA / "signal_sample.npz").is_file(), reason=NO_DATA)
