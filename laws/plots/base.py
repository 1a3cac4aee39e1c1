"""Helpers shared by the plot modules: lazy matplotlib (Agg), new axes, CI bands, colours, save."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from laws.atomic import atomic_path

MAX_BAND_REPLICATES = 200


def plt():
    """``matplotlib.pyplot`` with the Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as pyplot

    return pyplot


def new(ax, figsize=(6.4, 4.4)):
    """(figure, axes): a new figure unless ``ax`` is given."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt().subplots(figsize=figsize, layout="constrained")
    return fig, ax


def band(fit, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """95 % percentile band of ``fit``'s predictions over (up to 200) bootstrap replicates."""
    predict_band = getattr(fit, "predict_band", None)
    return predict_band(frame, max_replicates=MAX_BAND_REPLICATES) if predict_band else None


def colors(n: int) -> list:
    """``n`` colours along viridis (dark to light green), for ordered series such as sizes."""
    cmap = plt().get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.05, 0.85, max(n, 1))]


def save(fig, path: str | os.PathLike, dpi: int = 120) -> str:
    """Save ``fig`` atomically (:func:`laws.atomic.atomic_path`); returns the path."""
    path = os.fspath(path)
    with atomic_path(path, suffix=os.path.splitext(path)[1] or ".png") as tmp:
        fig.savefig(tmp, dpi=dpi)
    return path
