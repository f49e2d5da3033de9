"""Validation of candle and funding frames: pure functions, no I/O.

``validate_frame`` returns a :class:`ValidationReport` with *errors* (the data cannot be used:
unsorted, duplicate or naive timestamps, NaN, non-positive prices, high/low inconsistent with
open/close, bars off the timeframe grid) and *warnings* (usable, but the user should know:
gaps, funding interval changes, irregular funding intervals). Gaps are reported with their
spans and never filled. ``check_frame`` raises :class:`DataValidationError` with one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from perphedge.data.store import CANDLE_COLUMNS, FUNDING_REQUIRED
from perphedge.domain import InstrumentKind, MarketType, Series, Timeframe
from perphedge.errors import DataValidationError

_HOUR_NS = 3_600_000_000_000
_MINUTE_NS = 60_000_000_000
# No crypto market data predates Bitcoin's genesis block (2009-01-03 UTC).
EARLIEST_TIME = pd.Timestamp("2009-01-03", tz="UTC")
# No exchange lets funding move more than this per interval (caps are 0.3 % to 2 %; a larger
# value is a percentage read as a fraction, a unit slip or a corrupt file).
MAX_FUNDING_RATE = 0.03
# Two funding events closer than this are one event recorded twice.
MIN_FUNDING_SPACING_NS = _MINUTE_NS
_WEEK_OFFSET_NS = 4 * 24 * _HOUR_NS  # ccxt weekly bars open on Mondays; the epoch is a Thursday
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Gap:
    """Missing bars (or funding events) ``[start, end)``: ``start`` is the first missing
    timestamp, ``end`` the next one present; ``missing_bars`` how many are missing."""

    start: pd.Timestamp
    end: pd.Timestamp
    missing_bars: int

    def __str__(self) -> str:
        return f"{_ts(self.start)} .. {_ts(self.end)} ({self.missing_bars} missing)"


@dataclass(frozen=True)
class IntervalRun:
    """A stretch of funding events spaced ``hours`` apart, from ``start`` to ``end``."""

    start: pd.Timestamp
    end: pd.Timestamp
    hours: float
    events: int


@dataclass
class ValidationReport:
    """What :func:`validate_frame` found. ``ok`` means no errors (warnings are allowed)."""

    label: str
    rows: int
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    interval_runs: list[IntervalRun] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def missing_bars(self) -> int:
        return sum(g.missing_bars for g in self.gaps)

    def raise_for_errors(self) -> None:
        """Raise :class:`DataValidationError` (one line) if there are errors."""
        if self.errors:
            more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            raise DataValidationError(f"{self.label}: {self.errors[0]}{more}")


def _ts(value: pd.Timestamp) -> str:
    text = pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    return f"{text} UTC" if pd.Timestamp(value).tzinfo is not None else text


def _first_at(index: pd.Index, mask: np.ndarray) -> str:
    pos = np.flatnonzero(mask)
    return _ts(index[pos[0]]) if len(pos) else "?"


def _check_index(index: pd.Index, report: ValidationReport) -> bool:
    """Index dtype, order and uniqueness. Returns False if later checks cannot run."""
    if not isinstance(index, pd.DatetimeIndex):
        report.errors.append(f"index must be timestamps, got {index.dtype}")
        return False
    if index.tz is None:
        report.errors.append("timestamps are naive; they must be tz-aware UTC")
        return False
    if str(index.tz) != "UTC" or index.unit != "ns":
        report.errors.append(f"index dtype must be datetime64[ns, UTC], got {index.dtype}")
    if index.hasnans:
        report.errors.append("missing (NaT) timestamps")
        return False
    ns = index.asi8
    unsorted = np.diff(ns) < 0
    if unsorted.any():
        pos = int(np.flatnonzero(unsorted)[0]) + 1
        report.errors.append(f"timestamps not sorted (first out of order at {_ts(index[pos])})")
    dup = index.duplicated()
    if dup.any():
        report.errors.append(
            f"{int(dup.sum())} duplicate timestamp(s) (first at {_first_at(index, dup)})"
        )
    return not unsorted.any() and not dup.any()


def latest_time(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """The latest plausible timestamp: the end of tomorrow (UTC), so no time zone is unfair."""
    now = pd.Timestamp.now(tz="UTC") if now is None else now
    return now.normalize() + pd.Timedelta(days=2)


def impossible_times(index: pd.DatetimeIndex, now: pd.Timestamp | None = None) -> np.ndarray:
    """Mask of timestamps before 2009-01-03 UTC or after tomorrow (epoch units read wrongly,
    a 1970 default, a year typo)."""
    ns = pd.DatetimeIndex(index).as_unit("ns").asi8
    return (ns < EARLIEST_TIME.value) | (ns >= latest_time(now).value)


def _check_times(index: pd.DatetimeIndex, report: ValidationReport) -> None:
    bad = impossible_times(index)
    if bad.any():
        report.errors.append(
            f"{int(bad.sum())} impossible timestamp(s) (first {_first_at(index, bad)}): before "
            f"{EARLIEST_TIME:%Y-%m-%d} or after tomorrow; were epoch units read wrongly?"
        )


def _check_finite(frame: pd.DataFrame, columns: Sequence[str], report: ValidationReport) -> None:
    for col in columns:
        if col not in frame.columns:
            continue
        values = frame[col].to_numpy(dtype="float64")
        bad = np.isinf(values)
        if bad.any():
            report.errors.append(
                f"infinite {col} ({int(bad.sum())} rows, first at {_first_at(frame.index, bad)})"
            )


def _check_numbers(frame: pd.DataFrame, columns: Sequence[str], report: ValidationReport) -> None:
    for col in columns:
        if col not in frame.columns:
            continue
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype="float64")
        nan = np.isnan(values)
        if not nan.any():
            continue
        text = nan & frame[col].notna().to_numpy()  # present but not a number: '1,234', 'n/a'
        if text.any():
            first = frame[col].to_numpy()[np.argmax(text)]
            report.errors.append(
                f"non-numeric values in {col} ({int(text.sum())} rows, first at "
                f"{_first_at(frame.index, text)}: {str(first)!r})"
            )
        if (nan & ~text).any():
            missing = nan & ~text
            report.errors.append(
                f"NaN in {col} ({int(missing.sum())} rows, first at "
                f"{_first_at(frame.index, missing)})"
            )


def _check_positive(frame: pd.DataFrame, columns: Sequence[str], report: ValidationReport) -> None:
    for col in columns:
        if col not in frame.columns:
            continue
        values = frame[col].to_numpy(dtype="float64")
        bad = values <= 0
        if bad.any():
            report.errors.append(
                f"non-positive {col} ({int(bad.sum())} rows, first at "
                f"{_first_at(frame.index, bad)})"
            )


def grid_offset_ns(timeframe: Timeframe) -> int:
    """Where the bars of ``timeframe`` sit relative to the UTC epoch (weeks open on Mondays)."""
    return _WEEK_OFFSET_NS if timeframe.text.endswith("w") else 0


def candle_gaps(index: pd.DatetimeIndex, timeframe: Timeframe) -> list[Gap]:
    """Spans of missing bars in a sorted, unique index on the ``timeframe`` grid."""
    ns = index.asi8
    if len(ns) < 2:
        return []
    step = timeframe.ns
    diffs = np.diff(ns)
    out = []
    for pos in np.flatnonzero(diffs > step):
        start = ns[pos] + step
        end = ns[pos + 1]
        out.append(
            Gap(
                pd.Timestamp(start, tz="UTC"),
                pd.Timestamp(end, tz="UTC"),
                int(-(-(end - start) // step)),
            )
        )
    return out


def _begin(
    frame: pd.DataFrame, required: Sequence[str], label: str
) -> tuple[ValidationReport, bool]:
    """The checks every series starts with: required columns, a valid index, some rows.
    Returns the report and whether the row-level checks can go on."""
    report = ValidationReport(label=label, rows=len(frame))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        report.errors.append(f"missing column(s) {', '.join(missing)}")
    if not _check_index(frame.index, report):
        return report, False
    if len(frame) == 0:
        report.warnings.append("no rows")
        return report, False
    report.first, report.last = frame.index[0], frame.index[-1]
    return report, True


def validate_candles(
    frame: pd.DataFrame,
    timeframe: Timeframe | str,
    label: str = "candles",
    bar_offset: Timeframe | str | None = None,
) -> ValidationReport:
    """Check an OHLCV frame (index = bar open) against the schema and the ``timeframe`` grid
    (shifted by ``bar_offset``: daily bars on the 08:00 UTC clock have ``bar_offset`` 8h),
    and its times against the possible span (2009-01-03 to tomorrow)."""
    return _with_time_check(frame, _candle_checks(frame, timeframe, label, bar_offset))


def _with_time_check(frame: pd.DataFrame, report: ValidationReport) -> ValidationReport:
    if report.first is not None and isinstance(frame.index, pd.DatetimeIndex):
        _check_times(frame.index, report)
    return report


def bar_offset_ns(bar_offset: Timeframe | str | None) -> int:
    """The shift of a file's bar grid from the standard one (0 when ``bar_offset`` is None)."""
    return 0 if bar_offset is None else Timeframe.parse(bar_offset).ns


def _candle_checks(
    frame: pd.DataFrame,
    timeframe: Timeframe | str,
    label: str,
    bar_offset: Timeframe | str | None = None,
) -> ValidationReport:
    tf = Timeframe.parse(timeframe)
    shift = bar_offset_ns(bar_offset)
    report, go_on = _begin(frame, CANDLE_COLUMNS, label)
    if not go_on:
        return report
    _check_numbers(frame, CANDLE_COLUMNS, report)
    if report.errors:
        return report
    _check_finite(frame, CANDLE_COLUMNS, report)
    _check_positive(frame, PRICE_COLUMNS, report)
    if "volume" in frame.columns:
        neg = frame["volume"].to_numpy(dtype="float64") < 0
        if neg.any():
            report.errors.append(
                f"negative volume ({int(neg.sum())} rows, first at {_first_at(frame.index, neg)})"
            )
    if all(c in frame.columns for c in PRICE_COLUMNS):
        o, h, lo, c = (frame[k].to_numpy(dtype="float64") for k in PRICE_COLUMNS)
        high_bad = h < np.maximum(o, c)
        if high_bad.any():
            report.errors.append(
                f"high below open/close ({int(high_bad.sum())} rows, first at "
                f"{_first_at(frame.index, high_bad)})"
            )
        low_bad = lo > np.minimum(o, c)
        if low_bad.any():
            report.errors.append(
                f"low above open/close ({int(low_bad.sum())} rows, first at "
                f"{_first_at(frame.index, low_bad)})"
            )
    off = (frame.index.asi8 - grid_offset_ns(tf) - shift) % tf.ns != 0
    if off.any():
        grid = f"{tf} grid" if not shift else f"{tf} grid shifted by {Timeframe.parse(bar_offset)}"
        report.errors.append(
            f"{int(off.sum())} bar(s) off the {grid} (first at {_first_at(frame.index, off)})"
        )
        return report
    report.gaps = candle_gaps(frame.index, tf)
    if report.gaps:
        report.warnings.append(
            f"{len(report.gaps)} gap(s), {report.missing_bars} missing {tf} bar(s) "
            f"(first {report.gaps[0]})"
        )
    return report


def interval_runs(index: pd.DatetimeIndex) -> list[IntervalRun]:
    """Run-length encode the spacing of funding events (rounded to the minute)."""
    ns = index.asi8
    if len(ns) < 2:
        return []
    hours = np.round(np.diff(ns) / 60_000_000_000) / 60.0
    runs: list[IntervalRun] = []
    start = 0
    for i in range(1, len(hours) + 1):
        if i == len(hours) or hours[i] != hours[start]:
            runs.append(IntervalRun(index[start], index[i], float(hours[start]), i - start + 1))
            start = i
    return runs


def _rolling_low_median(values: np.ndarray, half: int = 2) -> np.ndarray:
    """Lower median of each centred window of ``2*half+1`` values (shorter at the ends)."""
    n = len(values)
    out = np.empty(n, dtype=values.dtype)
    for i in range(n):
        window = np.sort(values[max(0, i - half) : i + half + 1])
        out[i] = window[(len(window) - 1) // 2]
    return out


def funding_gaps(index: pd.DatetimeIndex) -> tuple[list[Gap], list[pd.Timestamp]]:
    """Missed funding events and irregular spacings.

    The prevailing interval at each spacing is the (lower) median of the five spacings around
    it, so a move from 8 h to 4 h is a change of regime, not a gap. A spacing that is a whole
    multiple (>= 2) of the prevailing interval is a gap of missed events; any other spacing
    that differs from it is irregular (returned as the timestamp that ends it).
    """
    ns = index.asi8
    if len(ns) < 3:
        return [], []
    d = np.diff(ns)
    regime = _rolling_low_median(d)
    gaps: list[Gap] = []
    irregular: list[pd.Timestamp] = []
    minute = 60_000_000_000
    for i in np.flatnonzero(np.abs(d - regime) >= minute):
        step = int(regime[i])
        ratio = d[i] / step if step > 0 else 0.0
        if ratio >= 1.5 and abs(ratio - round(ratio)) * step < minute:
            start = ns[i] + step
            gaps.append(Gap(pd.Timestamp(start, tz="UTC"), index[i + 1], int(round(ratio)) - 1))
        else:
            irregular.append(index[i + 1])
    return gaps, irregular


def validate_funding(frame: pd.DataFrame, label: str = "funding") -> ValidationReport:
    """Check a funding frame (index = funding time, ``funding_rate`` as a fraction): rates
    finite and within :data:`MAX_FUNDING_RATE`, events at least a minute apart, times possible."""
    return _with_time_check(frame, _funding_checks(frame, label))


def _funding_checks(frame: pd.DataFrame, label: str) -> ValidationReport:
    report, go_on = _begin(frame, FUNDING_REQUIRED, label)
    if not go_on:
        return report
    numeric = ["funding_rate", "mark_price"]
    if len(frame) > 1:
        numeric.append("interval_hours")  # a single event has no interval
    _check_numbers(frame, numeric, report)
    if report.errors:
        return report
    _check_finite(frame, ["funding_rate", "mark_price"], report)
    _check_positive(frame, ["mark_price", "interval_hours"], report)
    rate = frame["funding_rate"].to_numpy(dtype="float64") if "funding_rate" in frame else None
    if rate is not None:
        big = np.abs(rate) > MAX_FUNDING_RATE
        big &= np.isfinite(rate)
        if big.any():
            first = rate[np.argmax(big)]
            report.errors.append(
                f"{int(big.sum())} funding rate(s) beyond {MAX_FUNDING_RATE:.0%} per interval "
                f"in size (first {first:g} at {_first_at(frame.index, big)}), more than any "
                "exchange allows; is the rate a percentage instead of a fraction?"
            )
    close = np.diff(frame.index.as_unit("ns").asi8) < MIN_FUNDING_SPACING_NS
    if close.any():
        pos = int(np.flatnonzero(close)[0])
        report.errors.append(
            f"{int(close.sum())} funding event(s) less than one minute after the previous one "
            f"(first {_ts(frame.index[pos])} and {_ts(frame.index[pos + 1])}): one event "
            "recorded twice?"
        )
        return report
    report.interval_runs = interval_runs(frame.index)
    long_runs = [r for r in report.interval_runs if r.events >= 4]
    if len({r.hours for r in long_runs}) > 1:
        parts = ", ".join(f"{r.hours:g}h from {_ts(r.start)}" for r in long_runs)
        report.warnings.append(f"funding interval changes: {parts}")
    report.gaps, irregular = funding_gaps(frame.index)
    if report.gaps:
        report.warnings.append(
            f"{len(report.gaps)} gap(s), {report.missing_bars} missing funding event(s) "
            f"(first {report.gaps[0]})"
        )
    if irregular:
        report.warnings.append(
            f"{len(irregular)} irregular funding interval(s) (first ending at {_ts(irregular[0])})"
        )
    return report


_META_TYPES: dict[str, tuple[type, ...]] = {
    "exchange": (str,),
    "symbol": (str,),
    "source": (str,),
    "mark_substitute": (str,),
    "fetched_at": (str,),
    "library": (str,),
}


def validate_meta(
    meta: Mapping[str, Any],
    series: Series | str,
    timeframe: Timeframe | str | None = None,
    market_type: str | None = None,
) -> list[str]:
    """Problems in a file's metadata (empty when it is sound).

    ``contract_size`` must be a positive finite number or null, ``kind`` inverse, linear or
    null, ``market_type`` spot or swap (and match the file's folder), ``series`` and
    ``timeframe`` must match the file name; text fields must be text or null.
    """
    series = Series(series)
    problems: list[str] = []
    for name, types in _META_TYPES.items():
        value = meta.get(name)
        if value is not None and not isinstance(value, types):
            problems.append(f"metadata {name} must be text, got {value!r}")
    size = meta.get("contract_size")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, (int, float)):
            problems.append(f"metadata contract_size must be a number, got {size!r}")
        elif not np.isfinite(size) or size <= 0:
            problems.append(f"metadata contract_size must be positive, got {size!r}")
    kind = meta.get("kind")
    if kind is not None and kind not in [k.value for k in InstrumentKind]:
        problems.append(f"metadata kind must be inverse, linear or null, got {kind!r}")
    mtype = meta.get("market_type")
    if mtype not in [m.value for m in MarketType]:
        problems.append(f"metadata market_type must be spot or swap, got {mtype!r}")
    elif market_type is not None and mtype != market_type:
        problems.append(f"metadata market_type {mtype!r} but the file is under {market_type}/")
    if meta.get("series") != series.value:
        problems.append(f"metadata series must be {series.value!r}, got {meta.get('series')!r}")
    want_tf = None if timeframe is None else str(Timeframe.parse(timeframe))
    got_tf = meta.get("timeframe")
    if got_tf != want_tf:
        problems.append(f"metadata timeframe must be {want_tf!r}, got {got_tf!r}")
    problems.extend(_bar_offset_problems(meta.get("bar_offset"), want_tf))
    return problems


def _bar_offset_problems(value: Any, timeframe: str | None) -> list[str]:
    """``bar_offset`` (optional): a timeframe text shorter than the file's bar, candles only."""
    if value is None:
        return []
    if not isinstance(value, str):
        return [f"metadata bar_offset must be text such as '8h', got {value!r}"]
    try:
        shift = Timeframe.parse(value)
    except ValueError:
        return [f"metadata bar_offset must be a duration such as '8h', got {value!r}"]
    if timeframe is None:
        return [f"metadata bar_offset {value!r} on a series without bars"]
    if shift.ms >= Timeframe.parse(timeframe).ms:
        return [f"metadata bar_offset {value!r} must be shorter than the {timeframe} bar"]
    return []


def validate_frame(
    frame: pd.DataFrame,
    series: Series | str,
    timeframe: Timeframe | str | None = None,
    label: str = "",
    bar_offset: Timeframe | str | None = None,
) -> ValidationReport:
    """Validate a frame of ``series`` (candles need ``timeframe``; ``bar_offset`` shifts their
    grid)."""
    series = Series(series)
    if series.is_candles:
        if timeframe is None:
            raise ValueError(f"validating {series.value} candles needs a timeframe")
        return validate_candles(frame, timeframe, label or series.value, bar_offset)
    return validate_funding(frame, label or series.value)


def check_frame(
    frame: pd.DataFrame,
    series: Series | str,
    timeframe: Timeframe | str | None = None,
    label: str = "",
    bar_offset: Timeframe | str | None = None,
) -> ValidationReport:
    """Validate and raise :class:`DataValidationError` on the first error; return the report."""
    report = validate_frame(frame, series, timeframe, label, bar_offset)
    report.raise_for_errors()
    return report
