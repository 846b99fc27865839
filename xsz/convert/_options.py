"""The names of `to_zarr`'s options, without importing zarr (the ``xsz`` command lists them)."""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["CODECS", "LAYOUTS", "Layout"]

Layout = Literal["reads", "regular"]
LAYOUTS: Final[tuple[Layout, ...]] = ("reads", "regular")
"""``"reads"``: one chunk per read, the SZ frames as they are; ``"regular"``: regular chunks."""
CODECS: Final = ("svb-zstd", "zstd", "blosc", "gzip", "none")
"""Codec names `to_zarr` takes for ``layout="regular"`` (``"svb-zstd"`` needs xsz to read)."""
