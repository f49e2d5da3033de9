"""Notebook conveniences: ``result.plot()`` on a run's Result.

``Result`` (in :mod:`perphedge.engine.types`) is a plain data class; the charts live in
:mod:`perphedge.report.charts` and write PNG files. :func:`plot_result` draws one of them and
returns a :class:`Png`, which Jupyter shows inline (``_repr_png_``) and which can be saved.
:func:`attach` adds it to ``Result`` as ``plot`` unless ``Result`` already has one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from perphedge.errors import ConfigError


class Png:
    """PNG bytes of one chart: shown inline by Jupyter, written with :meth:`save`."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.name = name

    def _repr_png_(self) -> bytes:
        return self.data

    def save(self, path: str | os.PathLike[str]) -> Path:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(self.data)
        return out

    def __repr__(self) -> str:
        return f"<Png {self.name}: {len(self.data):,} bytes; .save(path) writes it>"


def plot_result(
    result: Any, chart: str = "equity", path: str | os.PathLike[str] | None = None
) -> Png:
    """Draw ``chart`` of a run: equity (hedged vs unhedged, drawdowns), hedge_ratio, margin,
    costs or attribution. With ``path`` the PNG is also written there."""
    from perphedge.report.charts import RUN_CHARTS

    charts = {name: fn for name, _, fn in RUN_CHARTS}
    if chart not in charts:
        raise ConfigError("chart", f"unknown chart {chart!r}; charts: {', '.join(charts)}")
    with tempfile.TemporaryDirectory(prefix="perphedge-plot-") as tmp:
        png = charts[chart](result, Path(tmp) / f"{chart}.png")
        image = Png(Path(png).read_bytes(), chart)
    if path is not None:
        image.save(path)
    return image
