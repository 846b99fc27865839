"""Register the ``ds.sz`` accessor without importing xarray when xsz is imported.

``import xsz`` must stay light for users of the pysz interface, yet ``ds.sz``
must exist whenever xarray does. So: if xarray is already imported, register
now; otherwise a one-shot import hook registers the accessor right after
xarray's own module has run, whenever (and if ever) it is imported. The hook
finds xarray's spec through the other finders, wraps only its loader's
``exec_module``, restores the original loader afterwards and removes itself.
Loading the ``sz`` engine (which xarray does for any ``open_dataset``) also
registers it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["register_accessor"]

_lock = threading.Lock()


class SZ:
    """``ds.sz``: see `xsz.xarray.accessor.SZAccessor` (imported on first use).

    Registering this small class rather than `SZAccessor` itself keeps the
    registration free of xsz's xarray modules, which may be half imported at
    that moment (``import xsz.xarray.indexes`` imports xarray, which runs the hook).
    """

    def __new__(cls, ds: Any) -> Any:
        from xsz.xarray.accessor import SZAccessor

        return SZAccessor(ds)


def _register() -> None:
    from xarray import Dataset, register_dataset_accessor

    if "sz" not in Dataset.__dict__:
        register_dataset_accessor("sz")(SZ)  # type: ignore[no-untyped-call]


def _register_quietly() -> None:
    """Register from inside xarray's import, which must not fail because of xsz."""
    try:
        _register()
    except Exception as exc:
        import warnings

        from xsz.errors import XszWarning

        warnings.warn(
            f"xsz could not register the ds.sz accessor: {exc!r}", XszWarning, stacklevel=2
        )


class _Loader(importlib.abc.Loader):
    """Runs xarray's own loader, then registers the accessor."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _register_quietly()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package ...
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: hands xarray's spec back with the registering loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname != "xarray":
            return None
        _uninstall()
        spec = importlib.util.find_spec("xarray")
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader)
        return spec


_finder = _Finder()


def _uninstall() -> None:
    with _lock:
        if _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


def register_accessor() -> None:
    """Make ``ds.sz`` available: now if xarray is loaded, else once it is imported."""
    if "xarray" in sys.modules:
        _register()
        return
    with _lock:
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)
