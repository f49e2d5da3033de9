"""Funding mapped onto the bar grid: sums, counts, per-unit amounts, interval changes, gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perphedge.data import SeriesKey, Store
from perphedge.domain import InstrumentKind
from perphedge.errors import DataValidationError
from perphedge.market import LegSpec, build_market

FOUR_H = pd.Timedelta(hours=4)


def candles(start: str, closes, bar=FOUR_H) -> pd.DataFrame:
    closes = np.asarray(closes, dtype=float)
    idx = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=len(closes), freq=bar)
    opens = closes - 0.5
    return pd.DataFrame(
        {"open": opens, "high": closes + 1, "low": opens - 1, "close": closes, "volume": 1.0},
        index=pd.DatetimeIndex(idx, name="timestamp"),
    )


def funding(times, rates, **cols) -> pd.DataFrame:
    idx = pd.DatetimeIndex(pd.to_datetime(times, utc=True, format="ISO8601"), name="timestamp")
    return pd.DataFrame({"funding_rate": rates, **cols}, index=idx)


# 8h events, then 4h from 08:00, then 1h from 16:00 (Binance-style interval changes)
TIMES = [
    "2023-12-31T00:00",
    "2023-12-31T08:00",
    "2023-12-31T16:00",
    "2024-01-01T00:00",
    "2024-01-01T08:00",
    "2024-01-01T12:00",
    "2024-01-01T16:00",
    "2024-01-01T17:00",
    "2024-01-01T18:00",
    "2024-01-01T19:00",
    "2024-01-01T20:00",
    "2024-01-01T21:00",
    "2024-01-01T22:00",
    "2024-01-01T23:00",
    "2024-01-02T00:00",  # the run's end: outside [start, end)
]
RATES = [9.0, 9.0, 9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 99.0]
RATES = [r * 1e-5 for r in RATES]
PERP = [2000.0, 2100.0, 2200.0, 2300.0, 2400.0, 2500.0]  # 4h closes; opens are close - 0.5


def make_store(tmp_path, symbol: str, meta: dict, fund: pd.DataFrame) -> Store:
    s = Store(tmp_path)
    s.write(SeriesKey("binance", "SOL/USDT", "ohlcv", "4h"), candles("2024-01-01", [10.0] * 6))
    s.write(SeriesKey("binance", "ETH/USDT", "ohlcv", "4h"), candles("2024-01-01", PERP))
    s.write(SeriesKey("binance", symbol, "ohlcv", "4h"), candles("2024-01-01", PERP), meta)
    s.write(SeriesKey("binance", symbol, "funding"), fund, meta)
    return s


def build(store: Store, symbol: str, kind: InstrumentKind, **kw):
    args = dict(
        timeframe="4h",
        start="2024-01-01",
        end="2024-01-02",
        spot_exchange="binance",
        coins=["SOL"],
        legs=[LegSpec("binance", symbol, kind)],
    )
    args.update(kw)
    return build_market(store, **args)


def test_inverse_funding_across_8h_4h_1h_intervals(tmp_path):
    s = make_store(
        tmp_path, "ETH/USD:ETH", {"kind": "inverse", "contract_size": 10.0}, funding(TIMES, RATES)
    )
    m, info = build(s, "ETH/USD:ETH", InstrumentKind.INVERSE)
    # bars 00, 04, 08, 12, 16, 20: events 00 | - | 08 | 12 | 16..19 | 20..23
    np.testing.assert_array_equal(m.funding_events[:, 0], [1, 0, 1, 1, 4, 4])
    expected_rate = np.array([1, 0, 2, 3, 4 + 5 + 6 + 7, 8 + 9 + 10 + 11]) * 1e-5
    np.testing.assert_allclose(m.funding_rate[:, 0], expected_rate, rtol=1e-12)
    opens = np.array(PERP) - 0.5  # no mark_price in the records: the bar's mark open
    np.testing.assert_allclose(m.funding_per_unit[:, 0], 10.0 * expected_rate / opens, rtol=1e-12)
    assert info.legs[0].funding_events == 11
    assert info.legs[0].funding_intervals_hours == (1.0, 4.0, 8.0)
    assert (
        "binance ETH/USD:ETH: funding interval changes in the run window (1h, 4h, 8h), read from "
        "the data"
    ) in m.notes


def test_record_mark_price_is_used_when_present(tmp_path):
    marks = [2000.0 + 10 * i for i in range(len(TIMES))]
    s = make_store(
        tmp_path,
        "ETH/USD:ETH",
        {"kind": "inverse", "contract_size": 10.0},
        funding(TIMES, RATES, mark_price=marks),
    )
    m, _ = build(s, "ETH/USD:ETH", InstrumentKind.INVERSE)
    r, mk = np.array(RATES), np.array(marks)
    # bar 16:00 holds events 6..9 (16:00 .. 19:00), each at its own recorded mark
    assert m.funding_per_unit[4, 0] == pytest.approx(np.sum(10.0 * r[6:10] / mk[6:10]), rel=1e-12)
    assert m.funding_per_unit[0, 0] == pytest.approx(10.0 * r[3] / mk[3], rel=1e-12)


def test_linear_funding_per_coin_and_unit_coin_usd(tmp_path):
    s = make_store(
        tmp_path,
        "ETH/USDT:USDT",
        {"kind": "linear", "contract_size": 0.001},
        funding(TIMES, RATES),
    )
    m, info = build(s, "ETH/USDT:USDT", InstrumentKind.LINEAR)
    opens = np.array(PERP) - 0.5
    expected_rate = np.array([1, 0, 2, 3, 22, 38]) * 1e-5
    np.testing.assert_allclose(m.funding_per_unit[:, 0], expected_rate * opens, rtol=1e-12)
    np.testing.assert_array_equal(m.coin_usd[:, 0], 1.0)
    assert info.legs[0].margin_coin == "USDT" and info.legs[0].contract_size == 0.001


def test_funding_starting_after_run_start_is_an_error(tmp_path):
    late = funding(TIMES[6:], RATES[6:])
    s = make_store(tmp_path, "ETH/USD:ETH", {"kind": "inverse", "contract_size": 10.0}, late)
    with pytest.raises(
        DataValidationError,
        match=r"^binance ETH/USD:ETH funding: funding starts at 2024-01-01 16:00 UTC, after the "
        r"run start 2024-01-01 00:00 UTC",
    ):
        build(s, "ETH/USD:ETH", InstrumentKind.INVERSE)


EIGHT = ["2023-12-31T16:00", "2024-01-01T00:00", "2024-01-01T16:00", "2024-01-02T00:00"]
EIGHT += ["2024-01-02T08:00", "2024-01-02T16:00"]


def test_missing_funding_event_refused_or_reported(tmp_path):
    s = make_store(
        tmp_path,
        "ETH/USD:ETH",
        {"kind": "inverse", "contract_size": 10.0},
        funding(EIGHT, [1e-4] * len(EIGHT)),
    )
    with pytest.raises(
        DataValidationError,
        match=r"^binance ETH/USD:ETH funding: 1 missing funding event\(s\) in the run window: "
        r"2024-01-01 08:00 UTC \.\. 2024-01-01 16:00 UTC \(1 missing\); data\.gap_policy is refuse",
    ):
        build(s, "ETH/USD:ETH", InstrumentKind.INVERSE)
    m, _ = build(s, "ETH/USD:ETH", InstrumentKind.INVERSE, gap_policy="ffill", max_fill_bars=1)
    np.testing.assert_array_equal(m.funding_events[:, 0], [1, 0, 0, 0, 1, 0])
    assert (
        "binance ETH/USD:ETH funding: 1 missing funding event(s) (2024-01-01 08:00 UTC .. "
        "2024-01-01 16:00 UTC (1 missing)) are counted as no payment"
    ) in m.notes


def _two_missing(tmp_path) -> Store:
    """8h funding with the 08:00 and 16:00 events of 2024-01-01 missing (2 in one gap)."""
    times = ["2023-12-31T16:00", "2024-01-01T00:00", "2024-01-02T00:00"]
    return make_store(
        tmp_path,
        "ETH/USD:ETH",
        {"kind": "inverse", "contract_size": 10.0},
        funding(times, [1e-4] * 3),
    )


def test_funding_gap_longer_than_max_fill_bars_is_refused_under_ffill(tmp_path):
    s = _two_missing(tmp_path)
    with pytest.raises(
        DataValidationError,
        match=r"^binance ETH/USD:ETH funding: 2 missing funding event\(s\) in the run window, "
        r"the longest gap 2024-01-01 08:00 UTC \.\. 2024-01-02 00:00 UTC \(2 missing\) is more "
        r"than data\.max_fill_bars = 1; refusing to count it as no payment",
    ):
        build(s, "ETH/USD:ETH", InstrumentKind.INVERSE, gap_policy="ffill", max_fill_bars=1)
    m, _ = build(s, "ETH/USD:ETH", InstrumentKind.INVERSE, gap_policy="ffill", max_fill_bars=2)
    assert m.funding_events[:, 0].tolist() == [1, 0, 0, 0, 0, 0]


def test_funding_gaps_zero_counts_missing_events_as_no_payment_with_a_warning(tmp_path):
    s = _two_missing(tmp_path)
    m, info = build(s, "ETH/USD:ETH", InstrumentKind.INVERSE, funding_gaps="zero")
    assert m.funding_rate[:, 0].tolist() == [1e-4, 0, 0, 0, 0, 0]
    assert (
        "binance ETH/USD:ETH funding: 2 missing funding event(s) (2024-01-01 08:00 UTC .. "
        "2024-01-02 00:00 UTC (2 missing)) are counted as no payment"
    ) in info.notes
