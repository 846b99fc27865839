"""``ds.sz.plot(...)``: squiggles of one or several reads, with moves and bases.

The signal is drawn in picoamperes when the Dataset has a calibration (see
`xsz.xarray.accessor.SZAccessor.calibration`), else in raw ADC units. When a move
table is present (a ragged ``Move`` of 0/1 values, one per `stride` samples:
a SAM ``mv`` tag without its leading stride value), each 1 is a base
boundary at sample ``trim + k * stride``, drawn as a thin vertical line; when
the read's bases are known (a text variable such as ``Sequence`` or ``Fastq``: a sequence, or
a FASTQ record whose second line is the sequence) and there are as many as
boundaries, each segment is labelled with its base (for up to `max_bases` in
view).

The stride comes from, in order: the `stride` argument, a per-read variable
``stride`` or ``move_stride``, the Move variable's attribute ``stride``, the
Dataset attribute ``stride`` or ``move_stride`` (the SZ header), else 5 (the
stride of Guppy's and Dorado's DNA models). The trim (samples before the first
move) comes from a per-read variable ``ts`` or ``trimmed_samples``, else 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.errors import UsageError
from xsz.mapping import READ_DIM
from xsz.xarray._ragged import as_reads

if TYPE_CHECKING:
    import xarray as xr

    from xsz.xarray.accessor import SZAccessor

__all__ = ["DEFAULT_STRIDE", "bases_of", "move_boundaries", "plot_reads"]

DEFAULT_STRIDE: Final = 5
_STRIDE_NAMES: Final = ("stride", "move_stride")
_TRIM_NAMES: Final = ("ts", "trimmed_samples")
_BASE_NAMES: Final = ("Sequence", "Fastq", "fastq", "sequence", "seq", "bases")
"""Text variables looked for bases, in order: ``Sequence`` is what `xsz.import_reads` names
the bases of a SAM/BAM, ``Fastq`` pysz's name."""


def bases_of(text: str) -> str:
    """The bases of a text field: a plain sequence, or the second line of a FASTQ record.

    Examples
    --------
    >>> bases_of("@r1\\nACGT\\n+\\n!!!!"), bases_of("ACGT")
    ('ACGT', 'ACGT')
    """
    if text.startswith("@") and "\n" in text:
        return text.split("\n")[1].strip()
    return text.strip()


def move_boundaries(moves: np.ndarray, stride: int, trim: int = 0) -> np.ndarray:
    """Sample positions where a base starts: ``trim + k * stride`` for each move ``k``.

    Examples
    --------
    >>> move_boundaries(np.array([1, 0, 1, 1, 0]), 5, trim=10).tolist()
    [10, 20, 25]
    """
    return trim + np.flatnonzero(np.asarray(moves)) * stride


def _per_read(one: xr.Dataset, names: tuple[str, ...]) -> Any:
    for name in names:
        if name in one.variables and one[name].ndim == 0:
            return one[name].values.item()
    return None


def _stride(one: xr.Dataset, moves: str, stride: int | None) -> int:
    if stride is not None:
        return int(stride)
    found = _per_read(one, _STRIDE_NAMES)
    if found is None:
        found = one[moves].attrs.get("stride")
    for name in _STRIDE_NAMES:
        if found is None:
            found = one.attrs.get(name)
    return DEFAULT_STRIDE if found is None else int(found)


def plot_reads(
    sz: SZAccessor,
    reads: Any = None,
    *,
    name: str = "Raw",
    pA: bool | None = None,
    moves: str | None = "Move",
    bases: str | None = None,
    stride: int | None = None,
    max_bases: int = 120,
    window: tuple[int, int] | None = None,
    axes: Any = None,
    figsize: tuple[float, float] | None = None,
) -> list[Any]:
    """Plot the signal of `reads` (IDs: one or a list; default the first read).

    Parameters
    ----------
    sz
        The accessor of the Dataset (``ds.sz``).
    reads
        Read IDs (labels of the ``read`` coordinate).
    name
        The ragged signal variable.
    pA
        Draw picoamperes (default: when a calibration is available).
    moves
        The move-table variable (``None``: do not overlay moves).
    bases
        The text variable with the bases (default: the first of ``Sequence``
        (imported basecalls), ``Fastq``, ``fastq``, ``sequence``, ``seq``,
        ``bases`` present).
    stride
        Samples per move (default: see the module docstring).
    max_bases
        Label segments with their base only when at most this many are drawn.
    window
        Draw only samples ``window[0] .. window[1] - 1`` of each read.
    axes
        Matplotlib axes to draw into, one per read (default: a new figure).
    figsize
        Size of a new figure.

    Returns
    -------
    list of matplotlib.axes.Axes
        One per read.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is a test dependency
        raise ImportError("plot needs matplotlib: pip install 'xsz[plot]'") from exc
    ds = as_reads(sz._ds)
    sz = ds.sz
    if reads is None:
        reads = [ds[READ_DIM].values[0]] if ds.sizes[READ_DIM] else []
    ids = [reads] if np.ndim(reads) == 0 else list(reads)
    if not ids:
        raise UsageError("no reads to plot")
    if pA is None:
        try:
            sz.calibration()
            pA = True
        except UsageError:
            pA = False
    if bases is None:
        bases = next((b for b in _BASE_NAMES if b in ds.variables and READ_DIM in ds[b].dims), None)
    selected = sz.sel(read=ids)  # before any figure: an unknown ID leaves none behind
    signal = selected.sz.to_pA(name) if pA else selected[name]
    signal_by_read = np.split(
        np.asarray(signal.values), selected.sz.index.starts[signal.dims[0]][1:-1]
    )
    if axes is None:
        _, axes = plt.subplots(
            len(ids),
            1,
            squeeze=False,
            figsize=figsize or (10, 2.6 * len(ids)),
            layout="constrained",
        )
        axes = list(axes[:, 0])
    axes = list(np.atleast_1d(axes))
    if len(axes) != len(ids):
        raise UsageError(f"{len(axes)} axes for {len(ids)} reads")
    for k, (ax, read_id) in enumerate(zip(axes, ids, strict=True)):
        one = selected.sz.isel(read=k)
        lo, hi = window or (0, len(signal_by_read[k]))
        lo, hi = max(0, lo), min(hi, len(signal_by_read[k]))
        y = signal_by_read[k][lo:hi]
        ax.plot(np.arange(lo, lo + len(y)), y, lw=0.6, color="C0")
        ax.set_title(str(read_id), fontsize=9, loc="left")
        ax.set_ylabel("current (pA)" if pA else f"{name} (ADC)")
        ax.set_xlabel("sample")
        if moves is not None and moves in one.variables and len(y):
            _overlay_moves(ax, one, moves, bases, stride, max_bases, y, lo)
    return list(axes)


def _overlay_moves(
    ax: Any,
    one: xr.Dataset,
    moves: str,
    bases: str | None,
    stride: int | None,
    max_bases: int,
    y: np.ndarray,
    lo: int,
) -> None:
    trim = _per_read(one, _TRIM_NAMES) or 0
    all_edges = move_boundaries(one[moves].values, _stride(one, moves, stride), int(trim))
    shown = (all_edges >= lo) & (all_edges < lo + len(y))
    edges = all_edges[shown]
    if not len(edges):
        return
    ax.vlines(edges, float(np.min(y)), float(np.max(y)), lw=0.3, color="0.6", alpha=0.6, zorder=0)
    if bases is None or bases not in one.variables:
        return
    seq = bases_of(str(one[bases].values.item()))
    if len(seq) != len(all_edges) or len(edges) > max_bases:
        return  # bases that do not match the moves are not drawn
    ends = np.append(edges[1:], lo + len(y))
    top = float(np.max(y))
    shown_bases = np.asarray(list(seq))[shown]
    for base, a, b in zip(shown_bases.tolist(), edges.tolist(), ends.tolist(), strict=True):
        ax.text((a + b) / 2, top, base, ha="center", va="bottom", fontsize=7, color="C3")
