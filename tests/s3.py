"""A moto S3 server on 127.0.0.1 for the tests that write to object storage and run
dask workers against it (fixture ``s3_server``), and a fresh bucket prefix per test (``s3_prefix``).
Import `s3_server_fixture` and `s3_prefix_fixture` into a test module to use them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

BUCKET = "xsz-write"


@pytest.fixture(scope="module", name="s3_server")
def s3_server_fixture() -> Iterator[tuple[str, dict[str, Any]]]:
    """A moto S3 server on loopback with bucket `BUCKET`: ``(endpoint, storage_options)``.

    The options carry the endpoint and credentials explicitly, so they reach
    processes (dask workers) that do not share this one's environment.
    """
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    options = {
        "endpoint": endpoint,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        "region": "us-east-1",
        "client_options": {"allow_http": True},
    }
    yield endpoint, options
    server.stop()


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
