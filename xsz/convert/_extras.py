"""The format packages, imported when first needed, with a clear message when missing."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["load"]


def load(name: str, purpose: str, *also: str) -> Any:
    """Import and return the module `name` (and import `also`, for their side effects).

    Examples
    --------
    >>> load("json", "reading JSON").dumps([1])
    '[1]'
    """
    try:
        module = importlib.import_module(name)
        for other in also:
            importlib.import_module(other)
    except ImportError as exc:
        wanted = ", ".join((name, *also))
        raise ImportError(f"{purpose} needs {wanted}: pip install 'xsz[formats]'") from exc
    return module
