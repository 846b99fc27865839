"""The one progress convention of xsz: ``progress(done, total)``.

Every long-running function (`xsz.ops`, `xsz.convert`) takes ``progress=``:
``False`` (the default) for nothing, ``True`` for a tqdm bar, or a callable
called as ``progress(done, total)`` with the reads done so far and the total
(``None`` where it is not known in advance, e.g. reads of a FAST5 directory).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from xsz.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["nothing", "progress_counter", "progress_hook"]


def progress_hook(
    progress: object, total: int | None, desc: str
) -> tuple[Callable[[int], None], Callable[[], None]]:
    """``(update(done), close())`` for a `progress` argument.

    Raises `UsageError` for anything but a bool, ``None`` or a callable.
    """
    if progress is None or progress is False:
        return _nothing_done, nothing
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="read", desc=desc, dynamic_ncols=True)
        return (lambda done: bar.update(done - bar.n)), bar.close
    if callable(progress):
        return (lambda done: progress(done, total)), nothing
    raise UsageError(f"progress must be a bool or a callable, got {progress!r}")


def progress_counter(progress: object, total: int, desc: str) -> Callable[[int], None]:
    """An ``advance(n)`` callable for code that counts work in increments (from
    any thread): it reports ``(done, total)`` to `progress`, in order, and closes
    a bar once all is done."""
    update, close = progress_hook(progress, total, desc)
    lock = threading.Lock()
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            update(done)
            if done >= total:
                close()

    return advance


def _nothing_done(done: int) -> None:
    return


def nothing() -> None:
    """Do nothing (the close of no progress)."""
    return
