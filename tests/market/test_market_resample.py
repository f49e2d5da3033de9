"""Coarser timeframes built from finer stored candles: the rule, the gap policy, the notes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perphedge.data import SeriesKey, Store
from perphedge.domain import InstrumentKind, Timeframe
from perphedge.errors import DataValidationError
from perphedge.market import LegSpec, build_market, finer_timeframe, resample_onto

INV = {"kind": "inverse", "contract_size": 10.0}


def hourly(start: str, n: int, base: float, skip=()) -> pd.DataFrame:
    """n hourly candles: open = base + i, close = open + 0.5, high = close + i % 3,
    low = open - 1, volume 1."""
    idx = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq="1h", name="timestamp")
    i = np.arange(n, dtype=float)
    df = pd.DataFrame(
        {
            "open": base + i,
            "high": base + i + 0.5 + i % 3,
            "low": base + i - 1.0,
            "close": base + i + 0.5,
            "volume": 1.0,
        },
        index=idx,
    )
    return df.drop(df.index[list(skip)])


def funding_8h(start: str, n: int) -> pd.DataFrame:
    idx = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n, freq="8h", name="timestamp")
    return pd.DataFrame({"funding_rate": 1e-4}, index=idx)


def make_store(tmp_path, skip=()) -> Store:
    """One day of 1h SOL and ETH spot and ETH inverse perp candles, 8h funding."""
    s = Store(tmp_path / "data")
    s.write(SeriesKey("binance", "SOL/USDT", "ohlcv", "1h"), hourly("2024-01-01", 24, 20, skip))
    s.write(SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"), hourly("2024-01-01", 24, 2000))
    s.write(SeriesKey("binance", "ETH/USD:ETH", "ohlcv", "1h"), hourly("2024-01-01", 24, 2001), INV)
    s.write(SeriesKey("binance", "ETH/USD:ETH", "funding"), funding_8h("2024-01-01", 3), INV)
    return s


def build(store: Store, **kw):
    args = dict(
        timeframe="4h",
        start="2024-01-01",
        end="2024-01-02",
        spot_exchange="binance",
        coins=["SOL"],
        legs=[LegSpec("binance", "ETH/USD:ETH", InstrumentKind.INVERSE)],
    )
    args.update(kw)
    return build_market(store, **args)


def test_finest_stored_timeframe_that_divides_the_target_and_shares_its_grid():
    tfs = [Timeframe.parse(t) for t in ("1h", "2h", "3h", "8h", "1d")]
    assert finer_timeframe(tfs, Timeframe.parse("4h")) == Timeframe.parse("1h")
    assert finer_timeframe(tfs[1:], Timeframe.parse("4h")) == Timeframe.parse("2h")
    assert finer_timeframe(tfs[2:], Timeframe.parse("4h")) is None  # 3h does not divide 4h
    assert finer_timeframe(tfs[3:], Timeframe.parse("1w")) == Timeframe.parse("8h")
    assert finer_timeframe(tfs, Timeframe.parse("1h")) is None


def test_resample_open_first_high_max_low_min_close_last_and_incomplete_bars_missing():
    fine = Timeframe.parse("1h")
    grid = np.array([0, 4, 8], dtype=np.int64) * fine.ns
    times = np.array([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11], dtype=np.int64) * fine.ns  # 6 missing
    vals = np.arange(11, dtype=float)
    cols = {"open": vals, "high": vals + [9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], "low": vals - 1}
    cols["close"] = vals + 0.5
    present, out = resample_onto(times, cols, fine, grid, Timeframe.parse("4h"))
    assert present.tolist() == [True, False, True]
    assert out["open"][[0, 2]].tolist() == [0.0, 7.0]
    assert out["high"][[0, 2]].tolist() == [9.0, 10.0]
    assert out["low"][[0, 2]].tolist() == [-1.0, 6.0]
    assert out["close"][[0, 2]].tolist() == [3.5, 10.5]
    assert np.isnan(out["close"][1]) and np.isnan(out["high"][1])


def test_4h_market_from_1h_candles_equals_hand_made_4h_files(tmp_path):
    fine = make_store(tmp_path / "fine")
    coarse = Store(tmp_path / "coarse" / "data")
    rule = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    stored = fine.keys()
    for key in stored:
        frame, meta = fine.read(key)
        if key.timeframe is None:
            coarse.write(key, frame, meta)
            continue
        four = frame.resample("4h", label="left", closed="left").agg(rule)
        coarse.write(SeriesKey(key.exchange, key.symbol, key.series, "4h"), four, meta)
    m1, i1 = build(fine)
    m4, i4 = build(coarse)
    for name in ("spot_close", "mark_close", "mark_high", "mark_low", "trade_close", "coin_usd"):
        np.testing.assert_array_equal(getattr(m1, name), getattr(m4, name))
    np.testing.assert_array_equal(m1.funding_per_unit, m4.funding_per_unit)
    assert m1.spot_close[:, 0].tolist() == [23.5, 27.5, 31.5, 35.5, 39.5, 43.5]
    assert "binance SOL/USDT ohlcv 4h built from 1h candles" in i1.notes
    assert not any("built from" in n for n in i4.notes)
    trade = i1.legs[0].price_sources[0]
    assert (trade.origin.value, trade.built_from, trade.timeframe) == ("resampled", "1h", "4h")


def test_a_4h_bar_missing_an_hour_follows_the_gap_policy(tmp_path):
    store = make_store(tmp_path, skip=(9,))  # 09:00 missing: the 08:00 4h bar is incomplete
    with pytest.raises(
        DataValidationError,
        match=r"^binance SOL/USDT ohlcv 4h \(built from 1h candles\): 1 gap\(s\) in the run "
        r"window: 2024-01-01 08:00 UTC \.\. 2024-01-01 12:00 UTC \(1 missing\); "
        r"data\.gap_policy is refuse",
    ):
        build(store)
    m, info = build(store, gap_policy="ffill", max_fill_bars=1)
    # the whole 08:00 bar is the 04:00 bar's close carried flat, never a partial bar
    assert m.spot_close[:, 0].tolist() == [23.5, 27.5, 27.5, 35.5, 39.5, 43.5]
    assert (
        "binance SOL/USDT ohlcv 4h: carried the last close forward as flat bars over 1 missing "
        "bar(s): 2024-01-01 08:00 UTC .. 2024-01-01 12:00 UTC (1 missing) (1h candles resampled)"
    ) in info.notes


def test_an_exactly_stored_timeframe_is_preferred_over_resampling(tmp_path):
    store = make_store(tmp_path)
    frame, _ = store.read(SeriesKey("binance", "SOL/USDT", "ohlcv", "1h"))
    rule = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    four = frame.resample("4h").agg(rule) + 100.0
    store.write(SeriesKey("binance", "SOL/USDT", "ohlcv", "4h"), four)
    m, info = build(store)
    assert m.spot_close[0, 0] == 123.5
    assert not any(n.startswith("binance SOL/USDT ohlcv 4h built") for n in info.notes)


def test_daily_bars_on_the_0800_clock_from_1h_spot_and_8h_perp(tmp_path):
    """offset 8h: the day [08:00, 08:00 next day) from 24 hourly spot bars and three 8h perp
    bars; the close is the 07:00 hour's close, never a 00:00 close."""
    s = Store(tmp_path / "data")
    s.write(SeriesKey("binance", "SOL/USDT", "ohlcv", "1h"), hourly("2024-01-01", 72, 20))
    s.write(SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"), hourly("2024-01-01", 72, 2000))
    perp = hourly("2024-01-01", 9, 2000)  # reuse the shape on an 8h index
    perp.index = pd.date_range("2024-01-01", periods=9, freq="8h", tz="UTC", name="timestamp")
    s.write(SeriesKey("binance", "ETH/USD:ETH", "ohlcv", "8h"), perp, INV)
    s.write(SeriesKey("binance", "ETH/USD:ETH", "funding"), funding_8h("2024-01-01", 9), INV)
    m, info = build(
        s, timeframe="1d", offset="8h", start="2024-01-01 08:00", end="2024-01-03 08:00"
    )
    assert list(m.index.strftime("%d %H:%M")) == ["01 08:00", "02 08:00"]
    # spot hour i: open 20 + i, close 20.5 + i; the first day is hours 8..31
    np.testing.assert_array_equal(m.spot_close[:, 0], [20.5 + 31, 20.5 + 55])
    # perp 8h bar i: close 2000.5 + i; the first day is bars 1, 2, 3 (08:00, 16:00, 00:00)
    np.testing.assert_array_equal(m.trade_close[:, 0], [2000.5 + 3, 2000.5 + 6])
    np.testing.assert_array_equal(m.funding_events[:, 0], [3, 3])  # three 8h funding events a day
    assert "binance SOL/USDT ohlcv 1d built from 1h candles" in m.notes
    assert "binance ETH/USD:ETH ohlcv 1d built from 8h candles" in m.notes
    assert finer_timeframe([Timeframe.parse("8h")], Timeframe.parse("1d"), 3 * 3600 * 10**9) is None


def test_missing_series_on_a_shifted_clock_names_the_hourly_download(tmp_path):
    """Exchanges serve daily candles that open at 00:00 UTC: the download that builds 08:00
    days is the hourly one."""
    from perphedge.errors import MissingDataError

    s = make_store(tmp_path)
    with pytest.raises(MissingDataError, match=r"XRP_USDT-1h-ohlcv\.parquet") as info:
        build(s, timeframe="1d", offset="8h", coins=["XRP"], start="2024-01-01 08:00")
    assert "--symbol XRP/USDT --series ohlcv --timeframe 1h" in str(info.value)


def test_the_finest_complete_series_builds_the_bars(tmp_path):
    """1h perp candles missing an hour, 8h ones complete: the day is built from the 8h ones
    (no gap to fill), and the notes say why."""
    s = make_store(tmp_path, skip=())
    s.write(
        SeriesKey("binance", "ETH/USD:ETH", "ohlcv", "1h"), hourly("2024-01-01", 24, 2001, [5]), INV
    )
    perp8 = hourly("2024-01-01", 3, 3000)
    perp8.index = pd.date_range("2024-01-01", periods=3, freq="8h", tz="UTC", name="timestamp")
    s.write(SeriesKey("binance", "ETH/USD:ETH", "ohlcv", "8h"), perp8, INV)
    m, _ = build(s, timeframe="1d")
    # 8h bar i: open 3000 + i, close 3000.5 + i; the day: open 3000, close 3002.5
    np.testing.assert_array_equal(m.trade_close[:, 0], [3002.5])
    assert (
        "binance ETH/USD:ETH ohlcv 1d: the 1h candles miss bars of the run; the 8h candles are "
        "complete and are used"
    ) in m.notes
    # with complete 1h candles the finest still wins
    s.write(SeriesKey("binance", "ETH/USD:ETH", "ohlcv", "1h"), hourly("2024-01-01", 24, 2001), INV)
    m, _ = build(s, timeframe="1d")
    np.testing.assert_array_equal(m.trade_close[:, 0], [2001 + 23.5])
