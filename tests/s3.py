"""Helpers of the tests that write to object storage and run dask workers against
conftest's S3 server (``s3_server``): a fresh bucket prefix per test (``s3_prefix``;
import `s3_prefix_fixture` into a test module to use it), a boto3 client, the keys
under a URL."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import BUCKET


@pytest.fixture(name="s3_prefix")
def s3_prefix_fixture(s3_server) -> str:
    """A URL prefix of its own in `BUCKET` for one test."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


def s3_client(endpoint: str) -> Any:
    """A boto3 client of the server (to look at what is there, as S3 shows it)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def keys_at(url: str, options: dict[str, Any]) -> list[str]:
    """The keys of the objects under `url`, sorted (through obstore)."""
    import obstore

    store = obstore.store.from_url(url, **options)
    return sorted(str(m["path"]) for batch in obstore.list(store) for m in batch)
