"""Shared fixtures: seeded nanopore-like reads, a temporary store path, the SZ
fixtures and nanopore files the tests make themselves (tests/made.py, tests/made_data.py),
and an S3 server on loopback (moto) with `upload` (test_remote, test_collection)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pytest

from tests.made import write_sz_fixtures
from tests.made_data import write_data
from xsz.format import Schema, SZWriter

if TYPE_CHECKING:
    from pathlib import Path

SEED = int(os.environ.get("XSZ_TEST_SEED", "20261124"))


def nanopore_signal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A squiggle: piecewise-constant levels (dwell ~9 samples) plus noise, int16."""
    if n == 0:
        return np.zeros(0, dtype=np.int16)
    n_levels = max(1, n // 9 + 1)
    levels = rng.normal(550, 80, n_levels)
    dwell = rng.geometric(1 / 9, n_levels)
    signal = np.repeat(levels, dwell)[:n]
    if len(signal) < n:
        signal = np.pad(signal, (0, n - len(signal)), mode="edge")
    signal = signal + rng.normal(0, 9, n)
    return np.clip(signal, 300, 900).astype(np.int16)


def make_reads(n: int, *, seed: int = SEED, length: int = 4000) -> list[tuple]:
    """(ID, Offset, Raw_unit, Raw, Fastq, Move) records, pysz's README schema but int16 Raw."""
    rng = np.random.default_rng(seed)
    reads = []
    for i in range(n):
        m = int(rng.integers(length // 2, length * 2))
        raw = nanopore_signal(rng, m)
        fastq = "".join(rng.choice(list("ACGT"), m // 9))
        move = (rng.random(m // 5) < 0.3).astype(np.uint16)
        reads.append(
            (f"read_{i:05d}", int(rng.integers(-100, 100)), float(rng.random()), raw, fastq, move)
        )
    return reads


SCHEMA_ATTRS = [("ID", str), ("Offset", np.int32), ("Raw_unit", np.float32)]
SCHEMA_DATASETS = [("Raw", np.int16), ("Fastq", str), ("Move", np.uint16)]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "reads.sz"


@pytest.fixture
def written(store_path):
    """An SZ store of `make_reads(20)` at `store_path` (test_format has its own)."""
    reads = make_reads(20)
    with SZWriter(store_path, Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)) as writer:
        writer.put_many(reads)
    return store_path


@pytest.fixture(scope="session")
def sz_fixtures(tmp_path_factory):
    """The directory of the fixtures ``basic``, ``alltypes``, ``signal_int16``, ``empty``
    and their ``X.expected.npz``: written here by xsz (tests/made.py); the pysz 0.4.0
    originals in test_pysz_compat, which overrides this fixture."""
    return write_sz_fixtures(tmp_path_factory.mktemp("sz-fixtures"))


@pytest.fixture(scope="session")
def source_data(tmp_path_factory):
    """A directory laid out like ../shared/data (pod5, FAST5, SLOW5/BLOW5, SAM files and
    signal_sample.npz): written here (tests/made_data.py); the real files in
    test_real_data, which overrides this fixture."""
    return write_data(tmp_path_factory.mktemp("source-data"))


# --- object storage: a real S3 server (moto) on loopback, shared by the remote tests ---

BUCKET = "xsz-test"


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on loopback: ``(endpoint, storage_options)``."""
    import boto3
    from moto import server as moto_server

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


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """obstore's configuration from the environment, for this test only."""
    endpoint, _ = s3_server
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(key, value)


def upload(local: Path, url: str, options: dict, *, flip: int | None = None) -> None:
    """Put the files of the store `local` at `url`, dat first and index last;
    with `flip`, that byte of dat inverted."""
    import obstore

    store = obstore.store.from_url(url + "/", **options)
    for name in ("dat", "checksums", "index"):
        if not (local / name).exists():
            continue
        data = bytearray((local / name).read_bytes())
        if flip is not None and name == "dat":
            data[flip] ^= 0xFF
        obstore.put(store, name, bytes(data))
