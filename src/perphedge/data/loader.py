"""``load(...)``: read one stored series, validate it, slice it to ``[start, end)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from perphedge.data.store import SeriesKey, Store
from perphedge.data.validate import Gap, ValidationReport, validate_frame, validate_meta
from perphedge.domain import Series, Timeframe

TimeLike = str | pd.Timestamp | None


@dataclass
class LoadedSeries:
    """A validated slice of one stored file. ``gaps`` are the missing spans inside the slice
    (for candles also a head or tail the file does not cover); nothing is filled."""

    key: SeriesKey
    path: Path
    frame: pd.DataFrame
    meta: dict[str, Any]
    gaps: list[Gap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def to_utc(value: TimeLike) -> pd.Timestamp | None:
    """Parse a time bound; naive values are taken as UTC."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _clip_gaps(gaps: list[Gap], start: pd.Timestamp | None, end: pd.Timestamp | None) -> list[Gap]:
    out = []
    for g in gaps:
        if (end is not None and g.start >= end) or (start is not None and g.end <= start):
            continue
        if (start is None or g.start >= start) and (end is None or g.end <= end):
            out.append(g)
            continue
        lo = g.start if start is None else max(g.start, start)
        hi = g.end if end is None else min(g.end, end)
        step = (g.end - g.start) / g.missing_bars
        out.append(Gap(lo, hi, int(-(-(hi - lo) // step))))
    return out


def _edge_gaps(
    frame: pd.DataFrame,
    timeframe: Timeframe,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> list[Gap]:
    """Requested bars before the first or after the last bar of the whole file."""
    step = pd.Timedelta(timeframe.ns, "ns")
    out = []
    if len(frame) == 0:
        if start is not None and end is not None and end > start:
            out.append(Gap(start, end, int(-(-(end - start) // step))))
        return out
    first, last = frame.index[0], frame.index[-1]
    if start is not None and start < first:
        head_end = first if end is None else min(first, end)
        out.append(Gap(start, head_end, int(-(-(head_end - start) // step))))
    if end is not None and end > last + step:
        tail_start = last + step if start is None else max(last + step, start)
        out.append(Gap(tail_start, end, int(-(-(end - tail_start) // step))))
    return out


def read_checked(
    store: Store, key: SeriesKey, since: TimeLike = None, until: TimeLike = None
) -> tuple[pd.DataFrame, dict[str, Any], ValidationReport]:
    """Read a stored file and validate its rows AND its metadata (contract size, kind, market
    type, series, timeframe); the report names the file. ``data check`` and every run use it,
    so a file the check refuses is never run on."""
    frame, meta = store.read(key, since=since, until=until)
    path = store.path(key)
    problems = validate_meta(meta, key.series, key.timeframe, key.market_type.value)
    offset = meta.get("bar_offset") if not problems else None  # a bad one is reported below
    report = validate_frame(frame, key.series, key.timeframe, label=str(path), bar_offset=offset)
    report.errors.extend(problems)
    return frame, meta, report


def load(
    store: Store,
    exchange: str,
    symbol: str,
    series: Series | str,
    timeframe: Timeframe | str | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> LoadedSeries:
    """Load ``series`` of ``symbol`` on ``exchange`` from ``store``, restricted to
    ``[start, end)`` (UTC).

    Raises :class:`MissingDataError` if the file is absent (the message names the file and
    the download command) and :class:`DataValidationError` if it is corrupt or fails
    validation. The whole file is validated, so a bad file fails whatever the slice.
    """
    key = SeriesKey(exchange, symbol, Series(series), timeframe)
    lo, hi = to_utc(start), to_utc(end)
    frame, meta, report = read_checked(store, key, since=lo, until=hi)
    path = store.path(key)
    report.raise_for_errors()
    mask = pd.Series(True, index=frame.index)
    if lo is not None:
        mask &= frame.index >= lo
    if hi is not None:
        mask &= frame.index < hi
    sliced = frame.loc[mask.to_numpy()]
    gaps = _clip_gaps(report.gaps, lo, hi)
    if key.timeframe is not None:
        gaps = sorted(gaps + _edge_gaps(frame, key.timeframe, lo, hi), key=lambda g: g.start)
    return LoadedSeries(
        key=key, path=path, frame=sliced, meta=meta, gaps=gaps, warnings=list(report.warnings)
    )
