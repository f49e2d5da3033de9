"""Validation: each defect gives its own error; gaps and funding intervals are reported."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perphedge.data.validate import (
    Gap,
    IntervalRun,
    check_frame,
    validate_candles,
    validate_frame,
    validate_funding,
)
from perphedge.errors import DataValidationError


def bars(times: list[str], opens: list[float] | None = None) -> pd.DataFrame:
    idx = pd.DatetimeIndex(times, tz="UTC").as_unit("ns")
    o = np.array(opens if opens is not None else [100.0 + i for i in range(len(times))])
    return pd.DataFrame(
        {"open": o, "high": o + 2, "low": o - 2, "close": o + 1, "volume": np.ones(len(o))},
        index=idx,
    )


def funding(times: list[str], rates: list[float] | None = None) -> pd.DataFrame:
    idx = pd.DatetimeIndex(times, tz="UTC").as_unit("ns")
    r = rates if rates is not None else [1e-4] * len(times)
    return pd.DataFrame({"funding_rate": r}, index=idx)


HOURS = [f"2023-01-01 {h:02d}:00" for h in range(6)]


def test_clean_candles_pass():
    report = validate_candles(bars(HOURS), "1h", label="x")
    assert report.ok and report.errors == [] and report.warnings == [] and report.gaps == []
    assert report.rows == 6
    assert report.first == pd.Timestamp("2023-01-01 00:00", tz="UTC")
    assert report.last == pd.Timestamp("2023-01-01 05:00", tz="UTC")


def test_duplicates():
    frame = bars(["2023-01-01 00:00", "2023-01-01 01:00", "2023-01-01 01:00", "2023-01-01 02:00"])
    with pytest.raises(
        DataValidationError,
        match=r"^f\.parquet: 1 duplicate timestamp\(s\) \(first at 2023-01-01 01:00 UTC\)$",
    ):
        check_frame(frame, "ohlcv", "1h", label="f.parquet")


def test_unsorted():
    frame = bars(["2023-01-01 00:00", "2023-01-01 02:00", "2023-01-01 01:00"])
    with pytest.raises(
        DataValidationError,
        match=r"^f: timestamps not sorted \(first out of order at 2023-01-01 01:00 UTC\)$",
    ):
        check_frame(frame, "ohlcv", "1h", label="f")


def test_nan():
    frame = bars(HOURS)
    frame.iloc[2, frame.columns.get_loc("close")] = np.nan
    frame.iloc[4, frame.columns.get_loc("close")] = np.nan
    with pytest.raises(
        DataValidationError, match=r"^f: NaN in close \(2 rows, first at 2023-01-01 02:00 UTC\)$"
    ):
        check_frame(frame, "ohlcv", "1h", label="f")


def test_non_positive_price():
    frame = bars(HOURS)
    frame.iloc[3, frame.columns.get_loc("low")] = 0.0
    with pytest.raises(
        DataValidationError,
        match=r"^f: non-positive low \(1 rows, first at 2023-01-01 03:00 UTC\)$",
    ):
        check_frame(frame, "ohlcv", "1h", label="f")


def test_high_and_low_inconsistent():
    frame = bars(HOURS)
    frame.iloc[1, frame.columns.get_loc("high")] = 100.5  # below close 102
    frame.iloc[2, frame.columns.get_loc("low")] = 103.0  # above open 102
    report = validate_candles(frame, "1h", label="f")
    assert report.errors == [
        "high below open/close (1 rows, first at 2023-01-01 01:00 UTC)",
        "low above open/close (1 rows, first at 2023-01-01 02:00 UTC)",
    ]
    with pytest.raises(DataValidationError, match=r"^f: high below open/close .* \(\+1 more\)$"):
        report.raise_for_errors()


def test_off_grid():
    frame = bars(["2023-01-01 00:00", "2023-01-01 08:00", "2023-01-01 17:00"])
    with pytest.raises(
        DataValidationError,
        match=r"^f: 1 bar\(s\) off the 8h grid \(first at 2023-01-01 17:00 UTC\)$",
    ):
        check_frame(frame, "ohlcv", "8h", label="f")


def test_naive_index():
    frame = bars(HOURS)
    frame.index = frame.index.tz_localize(None)
    with pytest.raises(
        DataValidationError, match=r"^f: timestamps are naive; they must be tz-aware UTC$"
    ):
        check_frame(frame, "ohlcv", "1h", label="f")


def test_non_utc_or_non_ns_index_is_an_error():
    frame = bars(HOURS)
    frame.index = frame.index.as_unit("us")
    report = validate_candles(frame, "1h")
    assert report.errors == ["index dtype must be datetime64[ns, UTC], got datetime64[us, UTC]"]


def test_gaps_are_reported_not_filled():
    times = [
        "2023-01-01 00:00",
        "2023-01-01 01:00",
        "2023-01-01 04:00",
        "2023-01-01 05:00",
        "2023-01-01 07:00",
    ]
    report = validate_candles(bars(times), "1h", label="f")
    assert report.ok  # gaps are warnings
    assert report.gaps == [
        Gap(
            pd.Timestamp("2023-01-01 02:00", tz="UTC"),
            pd.Timestamp("2023-01-01 04:00", tz="UTC"),
            2,
        ),
        Gap(
            pd.Timestamp("2023-01-01 06:00", tz="UTC"),
            pd.Timestamp("2023-01-01 07:00", tz="UTC"),
            1,
        ),
    ]
    assert report.missing_bars == 3
    assert report.rows == 5
    assert report.warnings == [
        "2 gap(s), 3 missing 1h bar(s) (first 2023-01-01 02:00 UTC .. 2023-01-01 04:00 UTC "
        "(2 missing))"
    ]


def test_missing_column():
    report = validate_frame(bars(HOURS).drop(columns="volume"), "ohlcv", "1h")
    assert report.errors == ["missing column(s) volume"]


def test_weekly_grid_is_monday():
    frame = bars(["2023-01-02", "2023-01-09"])  # Mondays
    assert validate_candles(frame, "1w").ok


def test_funding_8h_clean():
    report = validate_funding(funding(["2023-01-01 00:00", "2023-01-01 08:00", "2023-01-01 16:00"]))
    assert report.ok and report.warnings == [] and report.gaps == []
    assert report.interval_runs == [
        IntervalRun(
            pd.Timestamp("2023-01-01 00:00", tz="UTC"),
            pd.Timestamp("2023-01-01 16:00", tz="UTC"),
            8.0,
            3,
        )
    ]


def test_funding_interval_change_is_a_change_not_a_gap():
    times = [f"2023-01-01 {h:02d}:00" for h in (0, 8, 16)] + [
        f"2023-01-02 {h:02d}:00" for h in (0, 4, 8, 12, 16, 20)
    ]
    report = validate_funding(funding(times))
    assert report.ok
    assert report.gaps == []
    assert [(r.hours, r.events) for r in report.interval_runs] == [(8.0, 4), (4.0, 6)]
    assert report.warnings == [
        "funding interval changes: 8h from 2023-01-01 00:00 UTC, 4h from 2023-01-02 00:00 UTC"
    ]


def test_funding_missed_event_is_a_gap():
    times = [
        "2023-01-01 00:00",
        "2023-01-01 08:00",
        "2023-01-02 00:00",
        "2023-01-02 08:00",
        "2023-01-02 16:00",
    ]
    report = validate_funding(funding(times))
    assert report.gaps == [
        Gap(
            pd.Timestamp("2023-01-01 16:00", tz="UTC"),
            pd.Timestamp("2023-01-02 00:00", tz="UTC"),
            1,
        )
    ]
    assert report.warnings == [
        "1 gap(s), 1 missing funding event(s) (first 2023-01-01 16:00 UTC .. 2023-01-02 00:00 UTC "
        "(1 missing))"
    ]


def test_funding_irregular_interval_is_reported():
    times = [
        "2023-01-01 00:00",
        "2023-01-01 08:00",
        "2023-01-01 13:00",
        "2023-01-01 21:00",
        "2023-01-02 05:00",
    ]
    report = validate_funding(funding(times))
    assert report.ok
    assert report.gaps == []
    assert (
        "1 irregular funding interval(s) (first ending at 2023-01-01 13:00 UTC)" in report.warnings
    )


def test_funding_nan_and_duplicates_are_errors():
    frame = funding(["2023-01-01 00:00", "2023-01-01 08:00"], [1e-4, np.nan])
    with pytest.raises(
        DataValidationError,
        match=r"^g: NaN in funding_rate \(1 rows, first at 2023-01-01 08:00 UTC\)$",
    ):
        check_frame(frame, "funding", label="g")
    dup = funding(["2023-01-01 00:00", "2023-01-01 00:00"])
    with pytest.raises(DataValidationError, match=r"^g: 1 duplicate timestamp\(s\)"):
        check_frame(dup, "funding", label="g")


def test_funding_beyond_any_exchange_cap_is_an_error():
    report = validate_funding(funding(["2023-01-01 00:00", "2023-01-01 08:00"], [0.01, 7.5]))
    assert report.errors == [
        "1 funding rate(s) beyond 3% per interval in size (first 7.5 at 2023-01-01 08:00 UTC), "
        "more than any exchange allows; is the rate a percentage instead of a fraction?"
    ]
    at_cap = validate_funding(funding(["2023-01-01 00:00", "2023-01-01 08:00"], [0.03, -0.03]))
    assert at_cap.ok


def test_candles_need_timeframe():
    with pytest.raises(ValueError, match="needs a timeframe"):
        validate_frame(bars(HOURS), "mark")


def test_text_in_a_price_column_is_named_as_such_not_as_nan():
    frame = bars(HOURS).astype({"open": object})
    frame.iloc[1, frame.columns.get_loc("open")] = "1,234.5"  # a thousands separator
    frame.iloc[3, frame.columns.get_loc("open")] = None
    report = validate_frame(frame, "ohlcv", "1h", label="f")
    assert report.errors[:2] == [
        "non-numeric values in open (1 rows, first at 2023-01-01 01:00 UTC: '1,234.5')",
        "NaN in open (1 rows, first at 2023-01-01 03:00 UTC)",
    ]


def test_bar_offset_shifts_the_grid():
    """Daily bars on the 08:00 UTC clock pass with bar_offset 8h and only with it."""
    frame = bars(["2023-01-01 08:00", "2023-01-02 08:00", "2023-01-04 08:00"])
    report = check_frame(frame, "ohlcv", "1d", label="f", bar_offset="8h")
    assert report.gaps == [
        Gap(
            pd.Timestamp("2023-01-03 08:00", tz="UTC"),
            pd.Timestamp("2023-01-04 08:00", tz="UTC"),
            1,
        )
    ]
    with pytest.raises(
        DataValidationError,
        match=r"^f: 3 bar\(s\) off the 1d grid \(first at 2023-01-01 08:00 UTC\)$",
    ):
        check_frame(frame, "ohlcv", "1d", label="f")
    midnight = bars(["2023-01-01 00:00"])
    with pytest.raises(
        DataValidationError,
        match=r"^f: 1 bar\(s\) off the 1d grid shifted by 8h \(first at 2023-01-01 00:00 UTC\)$",
    ):
        check_frame(midnight, "ohlcv", "1d", label="f", bar_offset="8h")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (8, "metadata bar_offset must be text such as '8h', got 8"),
        ("8 hours", "metadata bar_offset must be a duration such as '8h', got '8 hours'"),
        ("1d", "metadata bar_offset '1d' must be shorter than the 1d bar"),
    ],
)
def test_bad_bar_offset_metadata(value, problem):
    from perphedge.data.validate import validate_meta

    meta = {"market_type": "swap", "series": "ohlcv", "timeframe": "1d", "bar_offset": value}
    assert validate_meta(meta, "ohlcv", "1d", "swap") == [problem]
    assert validate_meta({**meta, "bar_offset": "8h"}, "ohlcv", "1d", "swap") == []
