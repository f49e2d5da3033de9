"""Validation of candle and funding frames: pure functions, no I/O.

``validate_frame`` returns a :class:`ValidationReport` with *errors* (the data cannot be used:
unsorted, duplicate or naive timestamps, NaN, non-positive prices, high/low inconsistent with
open/close, bars off the timeframe grid) and *warnings* (usable, but the user should know:
gaps, funding interval changes, irregular funding intervals). Gaps are reported with their
spans and never filled. ``check_frame`` raises :class:`DataValidationError` with one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perphedge.data.store import CANDLE_COLUMNS, FUNDING_REQUIRED
from perphedge.domain import Series, Timeframe
from perphedge.errors import DataValidationError

_HOUR_NS = 3_600_000_000_000
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
    frame: pd.DataFrame, timeframe: Timeframe | str, label: str = "candles"
) -> ValidationReport:
    """Check an OHLCV frame (index = bar open) against the schema and the ``timeframe`` grid."""
    tf = Timeframe.parse(timeframe)
    report, go_on = _begin(frame, CANDLE_COLUMNS, label)
    if not go_on:
        return report
    _check_numbers(frame, CANDLE_COLUMNS, report)
    if report.errors:
        return report
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
    off = (frame.index.asi8 - grid_offset_ns(tf)) % tf.ns != 0
    if off.any():
        report.errors.append(
            f"{int(off.sum())} bar(s) off the {tf} grid (first at {_first_at(frame.index, off)})"
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
    """Check a funding frame (index = funding time, ``funding_rate`` as a fraction)."""
    report, go_on = _begin(frame, FUNDING_REQUIRED, label)
    if not go_on:
        return report
    numeric = ["funding_rate", "mark_price"]
    if len(frame) > 1:
        numeric.append("interval_hours")  # a single event has no interval
    _check_numbers(frame, numeric, report)
    if report.errors:
        return report
    _check_positive(frame, ["mark_price", "interval_hours"], report)
    rate = frame["funding_rate"].to_numpy(dtype="float64") if "funding_rate" in frame else None
    if rate is not None:
        big = np.abs(rate) > 0.05
        if big.any():
            report.warnings.append(
                f"{int(big.sum())} funding rate(s) above 5% per interval in size (first at "
                f"{_first_at(frame.index, big)}); is the rate a fraction, not a percentage?"
            )
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


def validate_frame(
    frame: pd.DataFrame,
    series: Series | str,
    timeframe: Timeframe | str | None = None,
    label: str = "",
) -> ValidationReport:
    """Validate a frame of ``series`` (candles need ``timeframe``)."""
    series = Series(series)
    if series.is_candles:
        if timeframe is None:
            raise ValueError(f"validating {series.value} candles needs a timeframe")
        return validate_candles(frame, timeframe, label or series.value)
    return validate_funding(frame, label or series.value)


def check_frame(
    frame: pd.DataFrame,
    series: Series | str,
    timeframe: Timeframe | str | None = None,
    label: str = "",
) -> ValidationReport:
    """Validate and raise :class:`DataValidationError` on the first error; return the report."""
    report = validate_frame(frame, series, timeframe, label)
    report.raise_for_errors()
    return report
