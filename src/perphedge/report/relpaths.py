"""Paths written into a run's outputs, made relative so that outputs name no machine folder.

A data file is shown under the config's ``data.root`` as written (``data/binance/spot/...`` for
the default relative root), or relative to the store when the root was given as an absolute
path (``binance/spot/...``): a report copied to another machine still says which file it used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any


def shown_data_path(path: str, store_root: str | Path, configured_root: str) -> str:
    """``path`` (absolute, inside the store) as it is shown in outputs; others unchanged."""
    p = Path(path)
    if not p.is_absolute():
        return path
    try:
        rel = PurePosixPath(p.relative_to(Path(store_root)).as_posix())
    except ValueError:
        try:
            rel = PurePosixPath(p.resolve().relative_to(Path(store_root).resolve()).as_posix())
        except (ValueError, OSError):
            return p.name  # outside the store: the file name alone, never a machine path
    base = PurePosixPath(Path(configured_root).as_posix())
    return (rel if Path(configured_root).is_absolute() else base / rel).as_posix()


def relative_sources(sources: Any, store_root: str | Path, configured_root: str) -> Any:
    """A copy of the run's ``sources`` list with each entry's ``path`` made relative."""
    if not isinstance(sources, list):
        return sources
    out = []
    for src in sources:
        if isinstance(src, Mapping) and isinstance(src.get("path"), str):
            src = {**src, "path": shown_data_path(src["path"], store_root, configured_root)}
        out.append(src)
    return out
