"""Fuzzing the SZ index parser: mutated indexes parse, or raise an `xsz.errors` exception.

A store written by `SZWriter` (one attribute of every type code) has its index
bytes mutated: bytes flipped, inserted and deleted, lines duplicated, the file
cut short, cells (header and column line included) replaced by hostile values.
Every mutant is parsed by `read_index`; in a copy of the store without its
``checksums`` file (as pysz writes stores, so the parser sees the bytes) it is
opened with `SZReader`, every read decoded, and checked by ``xsz verify``, which
answers 0 or one ``xsz: error:`` line; the checksummed store refuses any change.

Bounded in CI; ``XSZ_FUZZ_EXAMPLES=100000`` runs that many examples of each test.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.test_index_corrupt import ATTRIBUTES, DATASETS, records
from xsz.cli import main
from xsz.errors import SZFormatError, XszError
from xsz.format import Schema, SZReader, SZWriter, read_index

if TYPE_CHECKING:
    from collections.abc import Callable

    from xsz.format import SZIndex

LONG_RUN = int(os.environ.get("XSZ_FUZZ_EXAMPLES", "0"))
WHERE = "fuzzed.sz/index"

HOSTILE = [
    b"",
    b"-1",
    b"+5",
    b" 5",
    b"0x10",
    b"1_000",
    b"\xd9\xa3",  # an Arabic-Indic digit
    b"\xef\xbc\x95",  # a full-width digit
    b"4611686018427387903",  # 2**62 - 1
    b"4611686018427387904",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551616",
    b"9" * 5000,
    b"4294967295",
    b"65536",
    b"-32769",
    b"1e39",
    b"1e309",
    b"1e5000",
    b"-1e-5000",
    b"65520",
    b"nan",
    b"-Infinity",
    b"1.5",
    b"\xff\xfe",
    b"\x00",
    b"\r",
    b"\r\n",
    b"\n",
    b"\t",
    b":",
    b"::",
    b"9:",
    b"9:0",
    b"0:0",
    b":9",
    b"11344:4294967295",
    b"12:9223372036854775807",
    b"12:-1",
    b"\xe2\x80\xa8",  # U+2028, a line separator to str.splitlines
    b"\x1c",
    b"#",
    b"#{}",
    b"#[",
    b"#" + b"[" * 5000,
    b'#{"a": ' + b"9" * 5000 + b"}",
    b'#{"a": 1e999}',
    b"LENGTH",
    b"x:A:S",
    b"x:D:F128",
    b"ID:A:S",
    b"a" * 300,
]

position = st.integers(0, 1 << 20)  # taken modulo the length: small values shrink well
value = st.one_of(
    st.sampled_from(HOSTILE),
    st.binary(max_size=12),
    st.text(max_size=8).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(-(1 << 70), 1 << 70).map(lambda n: str(n).encode()),
    st.floats().map(lambda x: repr(x).encode()),
    st.tuples(st.integers(-1, 1 << 64), st.integers(-1, 1 << 64)).map(lambda t: b"%d:%d" % t),
)
mutation = st.one_of(
    st.tuples(st.just("flip"), position, st.integers(1, 255)),
    st.tuples(st.just("insert"), position, value),
    st.tuples(st.just("delete"), position, st.integers(1, 64)),
    st.tuples(st.just("duplicate"), position),
    st.tuples(st.just("cell"), position, position, value),
    st.tuples(st.just("truncate"), position),
)


def mutate(data: bytes, mutations: list[tuple]) -> bytes:
    """`data` with each mutation applied in turn."""
    out = bytearray(data)
    for kind, where, *args in mutations:
        at = where % (len(out) + 1)
        if kind == "flip" and out:
            out[at % len(out)] ^= args[0]
        elif kind == "insert":
            out[at:at] = args[0]
        elif kind == "delete":
            del out[at : at + args[0]]
        elif kind == "truncate":
            del out[at:]
        elif kind in ("duplicate", "cell"):
            lines = bytes(out).split(b"\n")
            k = where % len(lines)
            if kind == "duplicate":
                lines.insert(k, lines[k])
            else:
                cells = lines[k].split(b"\t")
                cells[args[0] % len(cells)] = args[1]
                lines[k] = b"\t".join(cells)
            out = bytearray(b"\n".join(lines))
    return bytes(out)


def examples(ci: int) -> settings:
    return settings(
        max_examples=LONG_RUN or ci,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(a store as xsz writes it, with checksums; a copy without them, as pysz's)."""
    base = tmp_path_factory.mktemp("fuzz")
    checked = base / "checked.sz"
    with SZWriter(checked, Schema.build(ATTRIBUTES, DATASETS)) as writer:
        writer.put_many(records(5))
    plain = base / "plain.sz"
    shutil.copytree(checked, plain)
    (plain / "checksums").unlink()
    return checked, plain


def one_line(message: str) -> bool:
    return len(message.splitlines()) == 1 and "Traceback" not in message


def outcome(parse: Callable[[], object]) -> XszError | None:
    """The xsz error `parse` raised, or ``None``; any other exception propagates."""
    try:
        parse()
    except XszError as exc:
        return exc
    return None


def use(index: SZIndex) -> None:
    """What readers take from a parsed index: every attribute, the ID table."""
    for f in index.schema.attributes:
        index.attribute(f.name)
    index.lookup()


@examples(600)
@given(mutations=st.lists(mutation, min_size=1, max_size=4))
def test_fuzz_index_parser(stores, mutations):
    _, plain = stores
    data = mutate((plain / "index").read_bytes(), mutations)
    for dat_size in (None, (plain / "dat").stat().st_size):
        error = outcome(lambda: use(read_index(data, where=WHERE, dat_size=dat_size)))  # noqa: B023
        event(
            f"dat_size {'given' if dat_size else 'None'}: {'parsed' if error is None else 'refused'}"
        )
        if error is not None:
            assert isinstance(error, SZFormatError)
            assert str(error).startswith(WHERE + ": ") and one_line(str(error)), str(error)


def read_everything(path: Path) -> None:
    with SZReader(path) as reader:
        reader.read_many(range(len(reader)))
        for f in reader.schema.datasets:
            if not f.is_text:
                reader.dataset(f.name)


def verify(path: Path) -> tuple[int, str]:
    """``xsz verify`` on `path`: its exit code and what it wrote to stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["verify", "-q", "--threads", "1", str(path)])
    return code, err.getvalue()


@examples(100)
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_fuzz_index_every_face(stores, mutations):
    checked, plain = stores
    original = (plain / "index").read_bytes()
    data = mutate(original, mutations)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "plain.sz"
        shutil.copytree(plain, copy)
        (copy / "index").write_bytes(data)
        parsed = outcome(lambda: read_index(data, where=WHERE)) is None
        error = outcome(lambda: read_everything(copy))
        assert error is None or one_line(str(error)), str(error)
        code, message = verify(copy)
        event(f"parsed: {parsed}; read: {error is None}; verify: {code}")
        assert code in (0, 1)
        if code:
            assert message.startswith(f"xsz: error: {copy}") and one_line(message), message
        assert code == 1 or parsed
        if data != original:  # the checksums sidecar catches every edit first
            sealed = Path(tmp) / "checked.sz"
            shutil.copytree(checked, sealed)
            (sealed / "index").write_bytes(data)
            with pytest.raises(SZFormatError):
                SZReader(sealed)
