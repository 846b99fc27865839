"""The tests of the nanopore files again, on the real ones (../shared/data).

Every test imported here reads its files from the ``source_data`` fixture: the
files the tests write themselves with each format's own writer
(tests/made_data.py) where it is defined, in tests/conftest.py, and the real
files, copied byte for byte from public repositories (see their README), in
this module, which overrides it. Without ../shared the whole module skips,
once, with the reason.
"""

from __future__ import annotations

import pytest

from tests import DATA, NO_DATA
from tests.test_cli import test_cli_convert_blow5_with_moves
from tests.test_convert_import import (
    sample,
    test_import_a_list_of_files,
    test_import_corrupt_record_midway_is_an_error,
    test_import_detect_format_by_content,
    test_import_detect_format_of_stores,
    test_import_disk_full_midway_leaves_nothing,
    test_import_empty_selection_makes_an_empty_store,
    test_import_every_file_matches_signal_sample,
    test_import_existing_destination_needs_overwrite,
    test_import_export_pod5_from_other_formats,
    test_import_export_pod5_round_trips,
    test_import_fast5_end_reason_enum_is_a_label,
    test_import_fast5_matches_h5py,
    test_import_header_names_source_and_run,
    test_import_interrupted_leaves_nothing_half_written,
    test_import_memory_stays_at_a_few_reads,
    test_import_moves_attach_basecalls,
    test_import_moves_file_that_is_not_sam,
    test_import_moves_from_bam_equal_moves_from_sam,
    test_import_moves_from_both_basecallers,
    test_import_moves_matching_no_read_is_an_error,
    test_import_moves_that_do_not_fit_the_signal_are_refused,
    test_import_pod5_matches_pod5_reader,
    test_import_progress_reports_every_read,
    test_import_read_ids_selects_reads_in_source_order,
    test_import_read_ids_the_source_lacks_are_named,
    test_import_reads_without_a_record_get_empty_basecalls,
    test_import_refuses_stores_and_bad_options,
    test_import_rows_keep_source_order_with_any_threads,
    test_import_same_read_twice_is_refused,
    test_import_same_reads_give_the_same_store_from_every_format,
    test_import_single_read_fast5_directory_equals_multi_read_file,
    test_import_slow5_matches_pyslow5,
    test_import_store_opens_with_compressedfile,
    test_import_truncated_source_is_refused,
)
from tests.test_convert_zarr import test_to_zarr_real_reads_round_trip
from tests.test_export_fast5 import (
    test_export_fast5_cli_and_refusals,
    test_export_fast5_matches_the_source_by_h5py,
    test_export_fast5_pod5_fields_and_hard_linked_runs,
    test_export_fast5_round_trip_through_xsz_import,
)
from tests.test_export_slow5 import (
    test_export_slow5_cli_convert,
    test_export_slow5_from_fast5_one_read_group_per_run,
    test_export_slow5_from_pod5_keeps_pod5_fields,
    test_export_slow5_reads_back_equal_by_pyslow5,
    test_export_slow5_round_trip_through_xsz_import,
    test_export_slow5_selection_in_order_asked,
)
from tests.test_read_any_format import (
    test_read_any_format_cli_info_get_view_verify,
    test_read_any_format_nanopore_file_equals_its_import,
    test_read_any_format_sz_and_refusals,
    test_read_any_format_zarr_equals_its_store,
)

if not (DATA / "signal_sample.npz").is_file():
    pytest.skip(NO_DATA, allow_module_level=True)

__all__ = [
    "sample",
    "test_cli_convert_blow5_with_moves",
    "test_import_a_list_of_files",
    "test_import_corrupt_record_midway_is_an_error",
    "test_import_detect_format_by_content",
    "test_import_detect_format_of_stores",
    "test_import_disk_full_midway_leaves_nothing",
    "test_import_empty_selection_makes_an_empty_store",
    "test_import_every_file_matches_signal_sample",
    "test_import_existing_destination_needs_overwrite",
    "test_import_export_pod5_from_other_formats",
    "test_import_export_pod5_round_trips",
    "test_import_fast5_end_reason_enum_is_a_label",
    "test_import_fast5_matches_h5py",
    "test_import_header_names_source_and_run",
    "test_import_interrupted_leaves_nothing_half_written",
    "test_import_memory_stays_at_a_few_reads",
    "test_import_moves_attach_basecalls",
    "test_import_moves_file_that_is_not_sam",
    "test_import_moves_from_bam_equal_moves_from_sam",
    "test_import_moves_from_both_basecallers",
    "test_import_moves_matching_no_read_is_an_error",
    "test_import_moves_that_do_not_fit_the_signal_are_refused",
    "test_import_pod5_matches_pod5_reader",
    "test_import_progress_reports_every_read",
    "test_import_read_ids_selects_reads_in_source_order",
    "test_import_read_ids_the_source_lacks_are_named",
    "test_import_reads_without_a_record_get_empty_basecalls",
    "test_import_refuses_stores_and_bad_options",
    "test_import_rows_keep_source_order_with_any_threads",
    "test_import_same_read_twice_is_refused",
    "test_import_same_reads_give_the_same_store_from_every_format",
    "test_import_single_read_fast5_directory_equals_multi_read_file",
    "test_import_slow5_matches_pyslow5",
    "test_import_store_opens_with_compressedfile",
    "test_import_truncated_source_is_refused",
    "test_to_zarr_real_reads_round_trip",
    "test_export_fast5_cli_and_refusals",
    "test_export_fast5_matches_the_source_by_h5py",
    "test_export_fast5_pod5_fields_and_hard_linked_runs",
    "test_export_fast5_round_trip_through_xsz_import",
    "test_export_slow5_cli_convert",
    "test_export_slow5_from_fast5_one_read_group_per_run",
    "test_export_slow5_from_pod5_keeps_pod5_fields",
    "test_export_slow5_reads_back_equal_by_pyslow5",
    "test_export_slow5_round_trip_through_xsz_import",
    "test_export_slow5_selection_in_order_asked",
    "test_read_any_format_cli_info_get_view_verify",
    "test_read_any_format_nanopore_file_equals_its_import",
    "test_read_any_format_sz_and_refusals",
    "test_read_any_format_zarr_equals_its_store",
]


@pytest.fixture(scope="session")
def source_data():
    """The real nanopore files, in place of the ones the tests write (conftest)."""
    return DATA


@pytest.fixture
def data(source_data):
    """The real nanopore files, for the tests of test_read_any_format and the exports."""
    return source_data
