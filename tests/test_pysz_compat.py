"""The fixture tests again, on the stores the original pysz 0.4.0 wrote (../shared/fixtures).

Every test imported here reads its stores from the ``sz_fixtures`` fixture: the
stores xsz writes itself (tests/made.py) where it is defined, in
tests/conftest.py, and the original's, ``X/`` with the values handed to pysz
in ``X.expected.npz``, in this module, which overrides it. So xsz reads and
copies the bytes pysz wrote (rows not in put order, float128 padding that is
uninitialised memory, a store pysz itself cannot open) exactly as its own.
Without ../shared the whole module skips, once, with the reason.
"""

from __future__ import annotations

import pytest

from tests import FIXTURES, NO_FIXTURES
from tests.test_accessor import test_accessor_to_sz_round_trip_of_fixtures
from tests.test_api import test_api_reads_fixtures
from tests.test_backend import (
    test_backend_empty_store_with_chunks,
    test_backend_reads_fixture_exactly,
    test_backend_same_layout_as_open_zarr_of_szstore,
)
from tests.test_convert_zarr import (
    test_from_zarr_of_a_dataset_written_by_xarray,
    test_to_zarr_reads_opens_like_the_engine_and_round_trips,
    test_to_zarr_regular_opens_like_the_engine_and_round_trips,
    test_to_zarr_regular_standard_codec_reads_without_xsz,
)
from tests.test_format import (
    test_format_batched_read_matches_single_reads,
    test_format_empty_store_has_full_schema,
    test_format_float_counts_come_from_frame_headers,
    test_format_reads_fixture_exactly,
    test_format_rewrites_fixture_as_the_original_would,
)
from tests.test_ops import test_ops_verify_fixtures
from tests.test_store_read import (
    test_store_chunk_is_the_frame_in_dat,
    test_store_fixture_reads_exactly_with_xarray,
    test_store_fixture_reads_exactly_with_zarr,
    test_store_metadata_describes_the_sz_layout,
)
from tests.test_store_write import (
    test_store_write_byte_copy_round_trip,
    test_store_write_copies_frames_without_reencoding,
    test_store_write_overlays_an_existing_store,
    test_store_write_with_xarray_to_zarr,
)

if not FIXTURES.is_dir():
    pytest.skip(NO_FIXTURES, allow_module_level=True)

__all__ = [
    "test_accessor_to_sz_round_trip_of_fixtures",
    "test_api_reads_fixtures",
    "test_backend_empty_store_with_chunks",
    "test_backend_reads_fixture_exactly",
    "test_backend_same_layout_as_open_zarr_of_szstore",
    "test_format_batched_read_matches_single_reads",
    "test_format_empty_store_has_full_schema",
    "test_format_float_counts_come_from_frame_headers",
    "test_format_reads_fixture_exactly",
    "test_format_rewrites_fixture_as_the_original_would",
    "test_from_zarr_of_a_dataset_written_by_xarray",
    "test_ops_verify_fixtures",
    "test_store_chunk_is_the_frame_in_dat",
    "test_store_fixture_reads_exactly_with_xarray",
    "test_store_fixture_reads_exactly_with_zarr",
    "test_store_metadata_describes_the_sz_layout",
    "test_store_write_byte_copy_round_trip",
    "test_store_write_copies_frames_without_reencoding",
    "test_store_write_overlays_an_existing_store",
    "test_store_write_with_xarray_to_zarr",
    "test_to_zarr_reads_opens_like_the_engine_and_round_trips",
    "test_to_zarr_regular_opens_like_the_engine_and_round_trips",
    "test_to_zarr_regular_standard_codec_reads_without_xsz",
]


@pytest.fixture(scope="session")
def sz_fixtures():
    """The original pysz 0.4.0 fixtures, in place of the ones xsz writes (conftest)."""
    return FIXTURES
