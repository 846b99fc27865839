"""What the subcommands share: storage options, ID lists, output files, sizes."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from xsz.errors import StoreExistsError, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["IDS_HELP", "mb", "output_file", "read_ids", "remote_parent", "storage_options"]


def mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


def remote_parent() -> argparse.ArgumentParser:
    """The ``-S KEY=VALUE`` option of commands that read URLs."""
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument(
        "-S",
        "--storage-option",
        action="append",
        metavar="KEY=VALUE",
        help="obstore setting for a URL PATH, e.g. region=eu-west-1 (repeatable; "
        "default: from the environment, AWS_ENDPOINT_URL ...)",
    )
    return remote


def storage_options(args: argparse.Namespace) -> dict[str, str] | None:
    """The ``--storage-option KEY=VALUE`` settings, for obstore."""
    options = {}
    for item in getattr(args, "storage_option", None) or ():
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--storage-option takes KEY=VALUE, got {item!r}")
        options[key] = value
    return options or None


IDS_HELP = (
    "file of read IDs ('-': stdin): one a line, or a CSV/TSV table with a read_id "
    "column; a header line and repeated IDs are fine"
)


def read_ids(source: str) -> list[str]:
    """The IDs of the list `source` (`xsz.select.read_id_list`); repeats are noted on
    stderr."""
    from xsz.select import read_id_list

    got = read_id_list(source)
    if got.repeats:
        name = "stdin" if source == "-" else source
        print(f"  note: {name}: {got.describe()}", file=sys.stderr)
    return got.ids


@contextlib.contextmanager
def output_file(path: str | None, *, force: bool, binary: bool = False) -> Iterator[IO[Any]]:
    """Standard output, or the file `path` written whole or not at all: built in a
    hidden sibling and renamed over `path` at the end; an existing `path` is
    replaced only with `force` (``--force``), and never a directory."""
    if path is None:
        if binary:
            raise UsageError("this output is binary: give a file with -o")
        yield sys.stdout
        return
    target = Path(path)
    if target.is_dir():
        raise StoreExistsError(f"{target} is a directory; give a file name with -o")
    if not target.absolute().parent.is_dir():
        raise UsageError(f"cannot write {target}: {target.absolute().parent} is not a folder")
    if target.exists() and not force:
        raise StoreExistsError(f"{target} exists; pass --force to replace it")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=target.absolute().parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # as open() would make it, not mkstemp's 0600
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
