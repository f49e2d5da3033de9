"""Importers: CSV files (column mapping, timezone, time unit, bar-close labels) and freqtrade
data files (feather, json, parquet) into frames in the store schema, and into the store.

Parsing (``read_csv_frame``, ``read_freqtrade_frame``) is separate from writing
(``import_csv``, ``import_freqtrade``), so the conversion script and tests can inspect frames.
Every timestamp comes out as ``datetime64[ns, UTC]``; nothing is guessed silently: an
unresolvable daylight-saving time, conflicting duplicate rows or an unknown column raise
:class:`DataValidationError` with one line.
"""

from __future__ import annotations

import difflib
import gzip
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from perphedge.data.merge import Prefer, WriteMode, commit_import, plan_import
from perphedge.data.store import (
    CANDLE_COLUMNS,
    INDEX_NAME,
    SeriesKey,
    Store,
    normalize_frame,
)
from perphedge.data.validate import EARLIEST_TIME, MIN_FUNDING_SPACING_NS, impossible_times
from perphedge.domain import Series, Timeframe
from perphedge.errors import ConfigError, DataValidationError

TIME_UNITS = ("s", "ms", "us", "ns")
_OFFSET_RE = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
# Grids tried (coarsest first) to decide an ambiguous wall-clock time at a DST fallback.
_DISAMBIGUATION_GRIDS_H = (8, 4, 2, 1)


class Label(str, Enum):
    """Which end of the bar a source's time column names."""

    OPEN = "open"
    CLOSE = "close"


def parse_timezone(text: str) -> tzinfo:
    """``UTC``, a fixed offset (``UTC+3``, ``+03:00``, ``GMT-5``) or an IANA name
    (``Europe/London``)."""
    name = text.strip()
    if name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    m = _OFFSET_RE.match(name)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes >= 60:
            raise ConfigError("timezone", f"offset out of range: {text!r}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            "timezone", f"unknown timezone {text!r}; use UTC, an offset like UTC+3, or a name"
        ) from None


def _resolve_ambiguous(
    naive: pd.DatetimeIndex, tz: tzinfo, grid: Timeframe | None, where: str
) -> pd.DatetimeIndex:
    """Localize ``naive`` wall-clock times in ``tz`` and convert to UTC.

    At a DST fallback a wall-clock time happens twice. It is resolved, in order, by: the one
    interpretation that lands on ``grid`` (the bar timeframe); the order of a repeated time
    (first = summer time); the one on the coarsest of the 8/4/2/1 h grids (funding times).
    Anything left raises. Wall-clock times that do not exist (spring forward) raise.
    """
    n = len(naive)
    try:
        dst = naive.tz_localize(tz, ambiguous=np.ones(n, dtype=bool), nonexistent="raise")
        std = naive.tz_localize(tz, ambiguous=np.zeros(n, dtype=bool), nonexistent="raise")
    except Exception as exc:  # pandas raises pytz/ValueError subclasses here
        raise DataValidationError(
            f"{where}: time that does not exist in {tz} ({str(exc).splitlines()[0]})"
        ) from None
    dst_ns, std_ns = dst.tz_convert("UTC").asi8, std.tz_convert("UTC").asi8
    differ = dst_ns != std_ns
    if not differ.any():
        return dst.tz_convert("UTC")
    chosen = dst_ns.copy()
    local = naive.asi8
    coarse = [h * 3_600_000_000_000 for h in _DISAMBIGUATION_GRIDS_H]
    for i in np.flatnonzero(differ):
        if grid is not None and (dst_ns[i] % grid.ns == 0) != (std_ns[i] % grid.ns == 0):
            chosen[i] = dst_ns[i] if dst_ns[i] % grid.ns == 0 else std_ns[i]
            continue
        same = np.flatnonzero(local == local[i])
        if len(same) == 2:  # the hour repeated: first is summer time, second winter time
            chosen[i] = dst_ns[i] if i == same[0] else std_ns[i]
            continue
        for step in coarse:
            a, b = dst_ns[i] % step == 0, std_ns[i] % step == 0
            if a != b:
                chosen[i] = dst_ns[i] if a else std_ns[i]
                break
        else:
            raise DataValidationError(
                f"{where}: ambiguous local time {naive[i]} in {tz} (daylight-saving "
                "fallback) cannot be resolved; convert the file to UTC first"
            )
    return pd.DatetimeIndex(pd.to_datetime(chosen, unit="ns", utc=True))


# Upper bounds (exclusive) of epoch magnitudes per unit: any time from 1973 to 5138 in seconds
# is below 1e11, in milliseconds below 1e14, in microseconds below 1e17; larger is nanoseconds.
_EPOCH_LIMITS = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))


def _looks_like_epochs(values: pd.Series) -> bool:
    """Numbers (not date strings or datetimes): integers or floats, or text of digits only."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        return False
    if pd.api.types.is_bool_dtype(values.dtype):
        return False
    if pd.api.types.is_numeric_dtype(values.dtype):
        return True
    text = values.dropna().astype(str).str.strip()
    return len(text) > 0 and bool(text.str.fullmatch(r"\d{9,19}(\.\d+)?").all())


def epoch_unit(numbers: np.ndarray, where: str = "time column") -> str:
    """The unit of epoch numbers, read from their magnitude (s, ms, us or ns).

    Every row must have the same unit: a column mixing seconds and milliseconds is an error
    naming the first row that differs (use ``--time-unit`` to force one).
    """
    mags = np.abs(numbers)
    units = np.full(len(mags), "ns", dtype=object)
    for limit, name in reversed(_EPOCH_LIMITS):
        units[mags < limit] = name
    if len(units) == 0:
        return "ms"
    first = units[0]
    other = np.flatnonzero(units != first)
    if len(other):
        i = int(other[0])
        raise DataValidationError(
            f"{where}: epoch numbers of different units (row 1 reads as {first}, row {i + 1} "
            f"as {units[i]}: {numbers[i]:.0f}); give --time-unit"
        )
    return str(first)


def parse_times(
    values: pd.Series,
    *,
    timezone_name: str = "UTC",
    unit: str | None = None,
    fmt: str | None = None,
    grid: Timeframe | None = None,
    where: str = "time column",
) -> pd.DatetimeIndex:
    """Turn a time column into a ``datetime64[ns, UTC]`` index.

    ``unit`` (s/ms/us/ns) reads epoch numbers, which are UTC by definition; without it,
    numbers are epochs whose unit is read from their magnitude (:func:`epoch_unit`). Strings
    are parsed (``fmt`` if given); strings that carry an offset keep it, naive ones are local
    time in ``timezone_name``.
    """
    if unit is None and _looks_like_epochs(values):
        unit = epoch_unit(pd.to_numeric(values).to_numpy(dtype="float64"), where)
    if unit is not None:
        if unit not in TIME_UNITS:
            raise ConfigError("time_unit", f"unknown time unit {unit!r}; use one of {TIME_UNITS}")
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            bad = values[numbers.isna()].iloc[0]
            raise DataValidationError(f"{where}: not an epoch number: {bad!r}")
        as_int = numbers.astype("float64").round().astype("int64")
        try:
            idx = pd.DatetimeIndex(pd.to_datetime(as_int, unit=unit, utc=True)).as_unit("ns")
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            raise DataValidationError(
                f"{where}: epoch numbers out of range when read as {unit} (largest "
                f"{as_int.max()}); give the right --time-unit"
            ) from None
        return idx
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return pd.DatetimeIndex(values).tz_convert("UTC").as_unit("ns")
    try:
        try:
            parsed = pd.to_datetime(values, format=fmt)
        except ValueError as exc:
            if "timezone" not in str(exc).lower():
                raise
            parsed = pd.to_datetime(values, format=fmt, utc=True)  # mixed explicit offsets
    except (ValueError, TypeError) as exc:
        raise DataValidationError(
            f"{where}: cannot parse times ({str(exc).splitlines()[0]})"
        ) from None
    idx = pd.DatetimeIndex(parsed)
    if idx.hasnans:
        raise DataValidationError(f"{where}: empty or unparsable time values")
    if idx.tz is not None:
        return idx.tz_convert("UTC").as_unit("ns")
    tz = parse_timezone(timezone_name)
    if tz is timezone.utc:
        return idx.tz_localize("UTC").as_unit("ns")
    if isinstance(tz, timezone):  # fixed offset: no DST, no ambiguity
        return idx.tz_localize(tz).tz_convert("UTC").as_unit("ns")
    return _resolve_ambiguous(idx.as_unit("ns"), tz, grid, where).as_unit("ns")


@dataclass(frozen=True)
class CsvSpec:
    """How to read one CSV file.

    ``columns`` maps store columns to source columns (e.g. ``{"open": "Open_futures"}``);
    store columns not mapped are looked up case-insensitively by their own name.
    ``volume=None`` in ``columns`` means the source has no volume: it is stored as 0.0.
    ``label`` says whether the time column is the bar open or the bar close (close-labelled
    bars are shifted back one timeframe). Rows may come in any order (newest first is fine).
    """

    time_column: str = "timestamp"
    columns: Mapping[str, str | None] = field(default_factory=dict)
    timezone: str = "UTC"
    time_unit: str | None = None
    time_format: str | None = None
    label: Label = Label.OPEN
    skiprows: int = 0
    sep: str = ","
    filters: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", Label(self.label))
        if self.time_unit is not None and self.time_unit not in TIME_UNITS:
            raise ConfigError("time_unit", f"unknown time unit {self.time_unit!r}")
        parse_timezone(self.timezone)  # fail early on a bad name


# ccxt's own names (fetch_funding_rate_history, fetch_ohlcv rows saved with headers): found
# without --map, after the store's own name.
CCXT_ALIASES: dict[str, tuple[str, ...]] = {
    "funding_rate": ("fundingRate",),
    "mark_price": ("markPrice",),
}
# Time columns tried, in order, when --time-column is left at its default ``timestamp``.
CCXT_TIME_COLUMNS: tuple[str, ...] = ("timestamp", "fundingTimestamp", "datetime")


def _target_columns(series: Series, present: list[str]) -> list[str]:
    if series.is_candles:
        return list(CANDLE_COLUMNS)
    lowered = {c.lower() for c in present}
    has_mark = "mark_price" in lowered or "markprice" in lowered
    return ["funding_rate"] + (["mark_price"] if has_mark else [])


def _lookup(columns: list[str], name: str) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return lowered.get(name.lower())


def _lookup_target(columns: list[str], target: str) -> str | None:
    """A store column's source: its own name, then ccxt's name for it (case-insensitive)."""
    for name in (target, *CCXT_ALIASES.get(target, ())):
        found = _lookup(columns, name)
        if found is not None:
            return found
    return None


def _time_column(columns: list[str], wanted: str) -> str | None:
    if wanted != "timestamp":
        return _lookup(columns, wanted)
    for name in CCXT_TIME_COLUMNS:
        found = _lookup(columns, name)
        if found is not None:
            return found
    return None


_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:[,' ]\d{3})+(?:\.\d+)?$")


def _numbers(raw: pd.Series, where: str, column: str, lines: np.ndarray) -> np.ndarray:
    """A column as float64; text that is not a number (``'1,234'``, ``'n/a'``) is an error
    naming its line, never a silent NaN."""
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64")
    text = np.isnan(values) & raw.notna().to_numpy()
    if text.any():
        i = int(np.argmax(text))
        value = str(raw.iloc[i])
        hint = " (a thousands separator? remove it)" if _THOUSANDS.match(value.strip()) else ""
        raise DataValidationError(
            f"{where} line {lines[i]}: {column} is not a number: {value!r}{hint}"
            + (f" (+{int(text.sum()) - 1} more)" if text.sum() > 1 else "")
        )
    return values


def check_time_span(
    times: pd.DatetimeIndex, lines: np.ndarray, where: str, unit: str | None = None
) -> None:
    """Refuse times before 2009-01-03 or after tomorrow, naming the first such line."""
    bad = impossible_times(times)
    if bad.any():
        i = int(np.argmax(bad))
        how = f" (epochs read as {unit}; give --time-unit if that is wrong)" if unit else ""
        raise DataValidationError(
            f"{where} line {lines[i]}: impossible time {times[i]:%Y-%m-%d %H:%M} UTC, before "
            f"{EARLIEST_TIME:%Y-%m-%d} or after tomorrow{how}"
            + (f" (+{int(bad.sum()) - 1} more)" if bad.sum() > 1 else "")
        )


def _did_you_mean(columns: list[str], name: str) -> str:
    """' (did you mean 'funding rate'?)' for a near-miss column name, else ''."""
    lowered = {c.strip().lower(): c for c in columns}
    key = name.strip().lower()
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    if not close:  # 'funding_rate' vs 'funding rate': compare without separators
        squash = {re.sub(r"[\s_\-]", "", k): k for k in lowered}
        hit = squash.get(re.sub(r"[\s_\-]", "", key))
        close = [hit] if hit else []
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def _varying_columns(raw: pd.DataFrame, times: pd.DatetimeIndex, skip: set[str]) -> list[str]:
    """Text columns (other than ``skip``) whose value differs between rows of the same time: in
    a long-format file those tell the markets apart (exchange, pair, ...)."""
    dup = times.duplicated(keep=False)
    if not dup.any():
        return []
    rows = raw.loc[np.asarray(dup)]
    keys = np.asarray(times[dup])
    out = []
    for col in raw.columns:
        if col in skip or pd.api.types.is_numeric_dtype(raw[col].dtype):
            continue  # prices differ between markets; the text columns name them
        per_time = pd.Series(rows[col].astype(str).to_numpy()).groupby(keys).nunique()
        if (per_time > 1).any():
            out.append(str(col))
    return out


def _finish(
    times: pd.DatetimeIndex,
    data: dict[str, np.ndarray],
    where: str,
    hint: str = "",
    *,
    lines: np.ndarray | None = None,
    series: Series | None = None,
) -> pd.DataFrame:
    """Build the frame, sort it, drop exact duplicate rows, refuse conflicting ones (``hint``
    is appended to that error: how to tell the rows apart) and, for funding, events less than
    a minute apart. ``lines`` are the source line numbers, named in errors."""
    lines = np.arange(1, len(times) + 1) if lines is None else np.asarray(lines)
    frame = pd.DataFrame(data, index=pd.DatetimeIndex(times, name=INDEX_NAME))
    frame, lines, conflict = _sorted_unique(frame, lines)
    if conflict is not None:
        first, count = conflict
        at = np.flatnonzero(frame.index == first)
        raise DataValidationError(
            f"{where} lines {', '.join(str(lines[i]) for i in at)}: "
            f"{count} timestamp(s) with different values "
            f"(first at {first:%Y-%m-%d %H:%M} UTC){hint}"
        )
    frame, lines = _drop_repeats(frame, lines)
    if series is Series.FUNDING and len(frame) > 1:
        close = np.diff(frame.index.asi8) < MIN_FUNDING_SPACING_NS
        if close.any():
            i = int(np.flatnonzero(close)[0])
            raise DataValidationError(
                f"{where} lines {lines[i]} and {lines[i + 1]}: funding events less than one "
                f"minute apart ({frame.index[i]:%Y-%m-%d %H:%M:%S} and "
                f"{frame.index[i + 1]:%Y-%m-%d %H:%M:%S} UTC); one event recorded twice?"
            )
    return frame


def read_csv_frame(
    path: str | Path,
    series: Series | str,
    spec: CsvSpec,
    timeframe: Timeframe | str | None = None,
) -> pd.DataFrame:
    """Read a CSV into a frame in the store schema (UTC index, float64 columns, sorted)."""
    series = Series(series)
    tf = None if timeframe is None else Timeframe.parse(timeframe)
    if series.is_candles and tf is None:
        raise ConfigError("timeframe", f"importing {series.value} candles needs a timeframe")
    if spec.label is Label.CLOSE and tf is None:
        raise ConfigError("label", "close-labelled rows need a timeframe to shift to the open")
    path = Path(path)
    where = str(path)
    try:
        raw = pd.read_csv(path, skiprows=spec.skiprows, sep=spec.sep)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataValidationError(
            f"{where}: cannot read CSV ({str(exc).splitlines()[0]})"
        ) from None
    for col, wanted in spec.filters.items():
        if col not in raw.columns:
            cols = [str(c) for c in raw.columns]
            raise DataValidationError(
                f"{where}: filter column {col!r} not in the file{_did_you_mean(cols, col)} "
                f"(columns: {', '.join(cols)})"
            )
        raw = raw[raw[col].astype(str) == str(wanted)]
    if raw.empty:
        raise DataValidationError(f"{where}: no rows to import")
    lines = raw.index.to_numpy() + spec.skiprows + 2  # 1-based, after the header line
    present = [str(c) for c in raw.columns]
    time_col = _time_column(present, spec.time_column)
    if time_col is None:
        raise DataValidationError(
            f"{where}: time column {spec.time_column!r} not found"
            f"{_did_you_mean(present, spec.time_column)} (columns: {', '.join(present)}); "
            "name it with --time-column"
        )
    data: dict[str, np.ndarray] = {}
    targets = _target_columns(series, [*spec.columns, *(c.strip().lower() for c in present)])
    for target in targets:
        if target in spec.columns:
            source = spec.columns[target]
            if source is None:
                if target != "volume":
                    raise ConfigError("columns", f"only volume may be absent, not {target}")
                data[target] = np.zeros(len(raw))
                continue
            col = _lookup(present, source)
        else:
            col = _lookup_target(present, target)
        if col is None:
            name = spec.columns.get(target, target)
            raise DataValidationError(
                f"{where}: column {name!r} for {target} not found{_did_you_mean(present, name)} "
                f"(columns: {', '.join(present)}); map it with --map {target}=COLUMN"
            )
        data[target] = _numbers(raw[col], where, str(col), lines)
    unit = spec.time_unit
    if unit is None and _looks_like_epochs(raw[time_col]):
        unit = epoch_unit(pd.to_numeric(raw[time_col]).to_numpy(dtype="float64"), where)
    times = parse_times(
        raw[time_col],
        timezone_name=spec.timezone,
        unit=unit,
        fmt=spec.time_format,
        grid=tf if series.is_candles else None,
        where=f"{where} column {time_col!r}",
    )
    if spec.label is Label.CLOSE and tf is not None:
        times = times - pd.Timedelta(tf.ns, "ns")
    check_time_span(times, lines, where, unit)
    hint = ""
    if times.duplicated().any():
        used = {
            time_col,
            *(c for c in (_lookup(present, spec.columns.get(t) or t) for t in data) if c),
        }
        varying = _varying_columns(raw, pd.DatetimeIndex(times), used)
        if varying:
            col = varying[0]
            example = str(raw[col].iloc[0])
            hint = (
                f"; the file holds several series: keep one with --where, e.g. --where "
                f"{col}={example} (columns that differ: {', '.join(varying)})"
            )
    return _finish(times, data, where, hint, lines=lines, series=series)


def _read_freqtrade_raw(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith(".feather"):
            return pd.read_feather(path)
        if name.endswith(".parquet"):
            return pd.read_parquet(path)
        if name.endswith(".json") or name.endswith(".json.gz"):
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as fh:
                rows = json.load(fh)  # Python's float parsing is exact (pandas' is not)
            shape = "expected a JSON list of [ms, open, high, low, close, volume] rows"
            if not isinstance(rows, list):
                raise ValueError(shape)
            for i, row in enumerate(rows):
                if not isinstance(row, list) or len(row) < 6:
                    raise ValueError(f"{shape}; row {i + 1} is {str(row)[:40]}")
            return pd.DataFrame(
                [r[:6] for r in rows], columns=["date", "open", "high", "low", "close", "volume"]
            )
    except (OSError, ValueError, EOFError, UnicodeDecodeError, ArrowException) as exc:
        raise DataValidationError(
            f"{path}: cannot read freqtrade file ({str(exc).splitlines()[0]})"
        ) from None
    raise ConfigError("format", f"{path}: not a freqtrade file (.feather, .json, .parquet)")


def read_freqtrade_frame(path: str | Path, series: Series | str) -> pd.DataFrame:
    """Read a freqtrade candle file (feather, json list of ``[ms, o, h, l, c, v]``, parquet).

    For ``series=funding`` the rate is taken from ``open`` (freqtrade's funding files keep it
    there; the other columns are 0).
    """
    series = Series(series)
    path = Path(path)
    raw = _read_freqtrade_raw(path)
    missing = [c for c in ("date", *CANDLE_COLUMNS) if c not in raw.columns]
    if missing:
        raise DataValidationError(f"{path}: missing freqtrade column(s) {', '.join(missing)}")
    if raw.empty:
        raise DataValidationError(f"{path}: no rows to import (the file holds no candles)")
    lines = np.arange(1, len(raw) + 1)
    unit = None
    if _looks_like_epochs(raw["date"]):
        unit = epoch_unit(pd.to_numeric(raw["date"]).to_numpy(dtype="float64"), str(path))
    times = parse_times(raw["date"], unit=unit, where=f"{path} column 'date'")
    check_time_span(times, lines, str(path), unit)
    if series.is_candles:
        data = {c: _numbers(raw[c], str(path), c, lines) for c in CANDLE_COLUMNS}
    else:
        data = {"funding_rate": _numbers(raw["open"], str(path), "open", lines)}
    return _finish(times, data, str(path), lines=lines, series=series)


def combine_frames(frames: list[pd.DataFrame], paths: tuple[Path, ...]) -> pd.DataFrame:
    """Several files of one series as one frame (monthly dumps, a glob): rows repeated
    exactly are kept once; files that disagree on a time are refused, naming both files."""
    if len(frames) == 1:
        return frames[0]
    origin = np.concatenate([np.full(len(f), i) for i, f in enumerate(frames)])
    both, origin, conflict = _sorted_unique(pd.concat(frames, axis=0), origin)
    if conflict is not None:
        first, count = conflict
        names = sorted({str(paths[i]) for i in origin[both.index == first]})
        raise DataValidationError(
            f"{' and '.join(names)} disagree at {first:%Y-%m-%d %H:%M} UTC "
            f"({count} time(s) with different values)"
        )
    return _drop_repeats(both, origin)[0]


def _sorted_unique(
    frame: pd.DataFrame, tags: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray, tuple[pd.Timestamp, int] | None]:
    """``frame`` (and its per-row ``tags``) sorted by time, stable, and the first timestamp
    that repeats with different values and how many do, if any (equal repeats are harmless)."""
    order = np.argsort(frame.index.asi8, kind="stable")
    frame, tags = frame.iloc[order], tags[order]
    dup = frame.index.duplicated(keep=False)
    if not dup.any():
        return frame, tags, None
    conflicting = frame[dup].groupby(level=0).nunique(dropna=False).gt(1).any(axis=1)
    if not conflicting.any():
        return frame, tags, None
    return frame, tags, (conflicting[conflicting].index[0], int(conflicting.sum()))


def _drop_repeats(frame: pd.DataFrame, tags: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The first row of each timestamp (after :func:`_sorted_unique` found no conflict)."""
    keep = ~frame.index.duplicated(keep="first")
    return frame[keep], tags[keep]


def slice_frame(
    frame: pd.DataFrame, start: str | pd.Timestamp | None, end: str | pd.Timestamp | None
) -> pd.DataFrame:
    """Rows with ``start <= timestamp < end`` (naive bounds are UTC)."""
    mask = np.ones(len(frame), dtype=bool)
    for bound, is_start in ((start, True), (end, False)):
        if bound is None:
            continue
        ts = pd.Timestamp(bound)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        mask &= (frame.index >= ts) if is_start else (frame.index < ts)
    return frame.loc[mask]


def write_imported(
    store: Store,
    key: SeriesKey,
    frame: pd.DataFrame,
    meta: Mapping[str, Any] | None = None,
    *,
    merge: bool = False,
) -> Path:
    """Write an imported frame (replacing the file, or merging with it when ``merge``)."""
    frame = normalize_frame(key, frame)
    if merge:
        return store.merge_write(key, frame, meta)
    return store.write(key, frame, meta)


def import_csv(
    store: Store,
    key: SeriesKey,
    path: str | Path,
    spec: CsvSpec,
    meta: Mapping[str, Any] | None = None,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    merge: bool = False,
    prefer: Prefer | None = None,
) -> Path:
    """Read a CSV with ``spec``, validate the complete result and write it into ``store``
    under ``key`` (replacing the file, or merging with it when ``merge``)."""
    frame = slice_frame(read_csv_frame(path, key.series, spec, key.timeframe), start, end)
    full_meta = {"source": str(path), **(meta or {})}
    mode = WriteMode.MERGE if merge else WriteMode.REPLACE
    plan = plan_import(store, key, frame, full_meta, mode=mode, prefer=prefer, what=str(path))
    return commit_import(store, plan)


def import_freqtrade(
    store: Store,
    key: SeriesKey,
    path: str | Path,
    meta: Mapping[str, Any] | None = None,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    merge: bool = False,
    prefer: Prefer | None = None,
) -> Path:
    """Read a freqtrade file, validate the complete result and write it into ``store``."""
    frame = slice_frame(read_freqtrade_frame(path, key.series), start, end)
    full_meta = {"source": str(path), **(meta or {})}
    mode = WriteMode.MERGE if merge else WriteMode.REPLACE
    plan = plan_import(store, key, frame, full_meta, mode=mode, prefer=prefer, what=str(path))
    return commit_import(store, plan)
