"""svb-zstd, the payload codec of SZ stores, as plain functions and as codecs.

The plain functions (`encode_array`, `decode_array`, `encode_text`,
`decode_text`) are what the SZ container uses. `SvbZstd` is the numcodecs
form (id ``"svb-zstd"``) and `SvbZstdCodec` the zarr v3 array-to-bytes form
(name ``"svb-zstd"``); both are loaded lazily, so importing this package pulls
in neither numcodecs nor zarr. All three produce the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from xsz.codec._batch import (
    MULTI_BELOW,
    compress_many,
    encode_payloads,
    join_frames,
    text_payloads,
)
from xsz.codec._svb import (
    DEFAULT_LEVEL,
    STR,
    ZSTD_MAGIC,
    Kind,
    compress,
    decode_array,
    decode_blocks_into,
    decode_bytes,
    decode_into,
    decode_payload,
    decode_text,
    encode_array,
    encode_payload,
    encode_text,
    frame_content_sizes,
    kind_of,
    max_content_size,
    max_payload_size,
    normalize_dtype,
    svb_count,
)

if TYPE_CHECKING:
    from xsz.codec._numcodecs import SvbZstd
    from xsz.codec._zarr_codec import SvbZstdCodec, TracedBuffer
    from xsz.codec._zarr_config import (
        BATCHED_PIPELINE,
        FUSED_PIPELINE,
        XSZ_PIPELINE,
        apply_zarr_settings,
        enable_rectilinear_chunks,
    )
    from xsz.codec._zarr_pipeline import SZCodecPipeline
    from xsz.codec._zdtype import FLOAT80_NAME

__all__ = [
    "BATCHED_PIPELINE",
    "CODEC_ID",
    "DEFAULT_LEVEL",
    "FLOAT80_NAME",
    "FUSED_PIPELINE",
    "MULTI_BELOW",
    "STR",
    "XSZ_PIPELINE",
    "ZSTD_MAGIC",
    "Kind",
    "SZCodecPipeline",
    "SvbZstd",
    "SvbZstdCodec",
    "TracedBuffer",
    "apply_zarr_settings",
    "enable_rectilinear_chunks",
    "compress",
    "compress_many",
    "decode_array",
    "decode_bytes",
    "decode_blocks_into",
    "decode_into",
    "decode_payload",
    "decode_text",
    "encode_array",
    "encode_payload",
    "encode_payloads",
    "join_frames",
    "encode_text",
    "frame_content_sizes",
    "kind_of",
    "max_content_size",
    "max_payload_size",
    "normalize_dtype",
    "svb_count",
    "text_payloads",
]

_ZARR_NAMES = frozenset(
    {
        "BATCHED_PIPELINE",
        "FLOAT80_NAME",
        "FUSED_PIPELINE",
        "SZCodecPipeline",
        "SvbZstdCodec",
        "TracedBuffer",
        "XSZ_PIPELINE",
        "apply_zarr_settings",
        "enable_rectilinear_chunks",
    }
)

CODEC_ID: Final = "svb-zstd"
"""The codec's name in numcodecs (``id``) and in zarr v3 metadata (``name``)."""


def __getattr__(name: str) -> object:
    if name == "SvbZstd":
        from xsz.codec._numcodecs import SvbZstd

        return SvbZstd
    if name in _ZARR_NAMES:  # these import zarr: only on demand
        from xsz.codec import _zarr_codec, _zarr_config, _zarr_pipeline, _zdtype

        for module in (_zarr_codec, _zarr_config, _zarr_pipeline, _zdtype):
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
