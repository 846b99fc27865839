"""Many files and many stores at once, on dask.distributed (or in this process).

`import_many` imports each nanopore file into an SZ store of its own and
`subset_many` copies the wanted reads out of each of many SZ stores, one task
per file or store. With a ``distributed.Client`` (given, or the one made
current by ``Client(...)``) the tasks run on its workers, which may be
processes on this machine (``LocalCluster``) or on a cluster (dask-jobqueue,
dask-kubernetes, ``dask scheduler`` + ``dask worker``): only the client's
address differs. Without a client they run here, one after the other, and
give the same stores.

Nothing that crosses to a worker is an open handle: tasks get paths or URLs and
the ``storage_options`` of obstore, and open what they need themselves (the
sources must be readable from the workers: a shared file system or object
storage). Each task writes one store, committed on its own as every SZ write
is (locally: renamed into place; object storage: ``index`` last), so a failed
or killed task leaves no half store, and the stores the others wrote are whole.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xsz.convert._import import ImportSummary, import_reads
from xsz.convert._sources import source_files
from xsz.errors import DuplicateReadError, ReadNotFoundError, UsageError
from xsz.format import SZReader
from xsz.ops import subset
from xsz.source import local_path

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["import_many", "locate_reads", "store_name", "subset_many"]

Location = str | os.PathLike[str]


def _join(dst: Location, name: str) -> str:
    """`dst`/`name` for a directory path or a URL prefix."""
    if local_path(dst) is None:
        return f"{str(dst).rstrip('/')}/{name}"
    return str(Path(local_path(dst) or dst) / name)


def store_name(location: Location) -> str:
    """The name of the store made from `location`: its last part, ``.sz`` for the suffix.

    Examples
    --------
    >>> store_name("/data/run_0.pod5"), store_name("s3://bucket/a/run_1.sz/")
    ('run_0.sz', 'run_1.sz')
    """
    name = str(location).rstrip("/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem}.sz"


def _client(client: Any) -> Any:
    """`client`, else the current ``distributed`` client if there is one, else ``None``
    (``False``: ``None``, this process, even with a current client)."""
    if client is False:
        return None
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()  # type: ignore[no-untyped-call]
    except ValueError:  # no client made in this process
        return None


def _run(
    client: Any, func: Callable[..., Any], calls: Sequence[tuple[Any, ...]], **kwargs: Any
) -> list[Any]:
    """``func(*call, **kwargs)`` for every call: one task each on `client`'s workers
    (results in order; the first error is raised once every task has ended), or
    here one after the other."""
    client = _client(client)
    if client is None:
        return [func(*call, **kwargs) for call in calls]
    from distributed import wait

    futures = [client.submit(func, *call, **kwargs, pure=False) for call in calls]
    wait(futures)  # type: ignore[no-untyped-call]  # let every task end, so no store is half-way when the error is raised
    try:
        return list(client.gather(futures, errors="raise"))
    except Exception as exc:
        if type(exc).__name__ == "KilledWorker":
            exc.add_note(_killed_note(calls, futures))
        raise


def _killed_note(calls: Sequence[tuple[Any, ...]], futures: Sequence[Any]) -> str:
    """What a user needs when workers died running tasks (dask's ``KilledWorker``)."""
    dead = [
        call
        for call, future in zip(calls, futures, strict=True)
        if future.status == "error" and type(future.exception()).__name__ == "KilledWorker"
    ]
    named = ", ".join(" -> ".join(str(x) for x in call[:2]) for call in dead[:3])
    more = f" and {len(dead) - 3} more" if len(dead) > 3 else ""
    return (
        f"xsz: the workers running {len(dead)} of {len(calls)} tasks died ({named}{more}); "
        "a store is committed whole or not at all, so none of theirs is at the destination, "
        "and every other task ran to its end. Run those again (or all with overwrite=True)."
    )


def import_many(
    srcs: Location | Iterable[Location],
    dst: Location,
    *,
    client: Any = None,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    format: str | None = None,
    n_threads: int = 1,
    checksum: bool = True,
) -> list[ImportSummary]:
    """Import each nanopore file of `srcs` into an SZ store of its own under `dst`.

    Parameters
    ----------
    srcs
        pod5, BLOW5, SLOW5 or FAST5 files, or directories of them (each file
        found is one store), as `import_reads` takes them.
    dst
        A directory or an object storage URL prefix (``s3://bucket/run``): file
        ``X.pod5`` becomes the store ``dst/X.sz``.
    client
        A ``distributed.Client``: one task per file on its workers. ``None``:
        the current client if one was made, else every file in this process;
        ``False``: in this process, whatever client there is.
    storage_options
        obstore settings for a URL `dst`, passed to the workers with each task
        (so they need no environment of their own).
    overwrite, format, n_threads, checksum
        As for `import_reads`, for each store (``n_threads=1``: a worker's
        thread compresses; parallelism comes from the tasks).

    Returns
    -------
    list of ImportSummary
        One per file, in the order of `srcs`.

    Raises
    ------
    UsageError
        Two files would make stores of the same name.
    StoreExistsError, SourceError, ...
        As `import_reads` raises them, from the first task that failed (the
        others still end, each store committed whole or not at all).
    """
    files = [path for path, _ in source_files(srcs, format)]
    names = [store_name(path) for path in files]
    twice = [name for name, n in Counter(names).items() if n > 1]
    if twice:
        raise UsageError(
            f"files of the same name would make the same store {twice[0]!r} under {dst}; "
            "import them into different destinations"
        )
    if local_path(dst) is not None:
        Path(local_path(dst) or dst).mkdir(parents=True, exist_ok=True)
    calls = [(str(path), _join(dst, name)) for path, name in zip(files, names, strict=True)]
    return _run(
        client,
        _import_one,
        calls,
        storage_options=dict(storage_options or {}) or None,
        overwrite=overwrite,
        format=format,
        n_threads=n_threads,
        checksum=checksum,
    )


def _import_one(src: str, dst: str, **kwargs: Any) -> ImportSummary:
    return import_reads(src, dst, **kwargs)


def locate_reads(
    stores: Sequence[Location],
    read_ids: Iterable[object],
    *,
    client: Any = None,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, list[str]]:
    """Which of `read_ids` each store holds: ``{store: [ids, in the order given]}``
    (stores holding none are left out), one task per store reading its index.

    Raises `ReadNotFoundError` for IDs in no store, `DuplicateReadError` for IDs
    in two stores (both name the first few).
    """
    wanted = list(dict.fromkeys(str(i) for i in read_ids))
    client = _client(client)
    ids: Any = wanted
    if client is not None:
        [ids] = client.scatter([wanted], broadcast=True)
    found = _run(
        client,
        _held,
        [(str(s), ids) for s in stores],
        storage_options=dict(storage_options or {}) or None,
    )
    owner: dict[str, str] = {}
    for store, held in zip(stores, found, strict=True):
        for read_id in held:
            if read_id in owner:
                raise DuplicateReadError(
                    f"read {read_id!r} is in {owner[read_id]} and in {store}", read_id=read_id
                )
            owner[read_id] = str(store)
    missing = [i for i in wanted if i not in owner]
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise ReadNotFoundError(
            f"{len(missing)} read IDs are in none of the {len(stores)} stores: "
            f"{', '.join(map(repr, missing[:3]))}{more}"
        )
    plan: dict[str, list[str]] = {}
    for read_id in wanted:
        plan.setdefault(owner[read_id], []).append(read_id)
    return plan


def _held(store: str, wanted: list[str], storage_options: Any = None) -> list[str]:
    """The IDs of `wanted` that `store` holds, in `wanted`'s order."""
    with SZReader(store, storage_options) as reader:
        present = set(reader.ids.tolist()) if len(reader) else set()
    return [i for i in wanted if i in present]


def subset_many(
    stores: Sequence[Location],
    read_ids: Iterable[object] | None,
    dst: Location,
    *,
    plan: Mapping[str, Sequence[str]] | None = None,
    client: Any = None,
    storage_options: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> dict[str, int]:
    """Copy the reads `read_ids` out of many SZ stores: one new store under `dst` per
    store that holds some, one task each.

    Parameters
    ----------
    stores
        SZ stores (paths or URLs).
    read_ids
        The reads wanted; every one must be in exactly one of `stores`.
    dst
        A directory or URL prefix: the reads of store ``.../X.sz`` go to
        ``dst/X.sz``, in the order `read_ids` gives them.
    plan
        ``{store: ids}`` when already known (from a read-ID index over the
        stores, say): then no store's index is read to find them and
        `read_ids` may be ``None``. By default `locate_reads` finds them, one
        task per store.
    client
        A ``distributed.Client``; ``None``: the current one, or in this process
        when none was made; ``False``: in this process.
    storage_options
        obstore settings for URLs (sources and `dst`), sent with each task.
    overwrite
        Replace existing SZ stores under `dst`.

    Returns
    -------
    dict
        ``{written store: reads}``.
    """
    options = dict(storage_options or {}) or None
    if plan is None:
        if read_ids is None:
            raise UsageError("subset_many needs read_ids, or a plan of which store holds which")
        plan = locate_reads(stores, read_ids, client=client, storage_options=options)
    names = [store_name(s) for s in plan]
    twice = [name for name, n in Counter(names).items() if n > 1]
    if twice:
        raise UsageError(f"stores of the same name would make the same subset {twice[0]!r}")
    if local_path(dst) is not None:
        Path(local_path(dst) or dst).mkdir(parents=True, exist_ok=True)
    targets = [_join(dst, name) for name in names]
    calls = [
        (str(store), list(ids), target)
        for (store, ids), target in zip(plan.items(), targets, strict=True)
    ]
    counts = _run(client, _subset_one, calls, storage_options=options, overwrite=overwrite)
    return dict(zip(targets, counts, strict=True))


def _subset_one(
    store: str, ids: list[str], dst: str, *, storage_options: Any, overwrite: bool
) -> int:
    return subset(store, ids, dst, overwrite=overwrite, storage_options=storage_options)
