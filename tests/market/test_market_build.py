"""build_market on tiny stores: grid, gaps, leading/trailing data, mark substitutes, kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perphedge.data import SeriesKey, Store
from perphedge.domain import InstrumentKind, Timeframe
from perphedge.errors import ConfigError, DataValidationError, MissingDataError
from perphedge.market import LegSpec, build_market, make_grid, required_data

H = pd.Timedelta(hours=1)
INV = {"kind": "inverse", "contract_size": 10.0}


def candles(start: str, closes, bar=H, skip=()) -> pd.DataFrame:
    closes = np.asarray(closes, dtype=float)
    idx = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=len(closes), freq=bar)
    opens = closes - 0.5
    df = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes) + 1.0,
            "low": np.minimum(opens, closes) - 1.0,
            "close": closes,
            "volume": 1.0,
        },
        index=pd.DatetimeIndex(idx, name="timestamp"),
    )
    return df.drop(df.index[list(skip)])


def funding(times, rates, mark_price=None) -> pd.DataFrame:
    df = pd.DataFrame(
        {"funding_rate": rates},
        index=pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="timestamp"),
    )
    if mark_price is not None:
        df["mark_price"] = mark_price
    return df


@pytest.fixture
def store(tmp_path) -> Store:
    """12 hourly bars from 2024-01-01 00:00 of SOL, ETH spot, ETH inverse perp; 8h funding."""
    s = Store(tmp_path / "data")
    s.write(_key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20 + np.arange(12)))
    s.write(_key("ETH/USDT", "ohlcv"), candles("2024-01-01", 2000 + 10 * np.arange(12)))
    s.write(_key("ETH/USD:ETH", "ohlcv"), candles("2024-01-01", 2001 + 10 * np.arange(12)), INV)
    s.write(
        _key("ETH/USD:ETH", "funding"),
        funding(
            ["2023-12-31 16:00", "2024-01-01 00:00", "2024-01-01 08:00", "2024-01-01 16:00"],
            [0.0001, 0.0002, -0.0001, 0.0003],
        ),
        INV,
    )
    return s


def _key(symbol: str, series: str, tf: str | None = "1h") -> SeriesKey:
    return SeriesKey("binance", symbol, series, tf if series != "funding" else None)


def build(store: Store, **kw):
    args = dict(
        timeframe="1h",
        start="2024-01-01 00:00",
        end="2024-01-01 12:00",
        spot_exchange="binance",
        coins=["SOL"],
        quote="USDT",
        legs=[LegSpec("binance", "ETH/USD:ETH", InstrumentKind.INVERSE)],
        gap_policy="refuse",
        max_fill_bars=0,
        mark_substitute="auto",
    )
    args.update(kw)
    return build_market(store, **args)


def test_make_grid_aligns_to_epoch_and_excludes_end():
    tf = Timeframe.parse("8h")
    g = make_grid(tf, "2024-01-01 03:00", "2024-01-02 08:00")
    assert list(pd.to_datetime(g, utc=True).strftime("%d %H")) == ["01 08", "01 16", "02 00"]
    assert make_grid(tf, "2024-01-01 01:00", "2024-01-01 07:00").size == 0


def test_grid_alignment_and_slicing(store):
    m, info = build(store, start="2024-01-01 02:30", end="2024-01-01 06:00")
    assert list(m.index.strftime("%H:%M")) == ["03:00", "04:00", "05:00"]
    assert m.bar_ns == 3_600 * 10**9
    np.testing.assert_array_equal(m.spot_close[:, 0], [23.0, 24.0, 25.0])
    assert "not on the 1h grid; the first bar opens at 2024-01-01 03:00 UTC" in " ".join(m.notes)
    assert info.start == pd.Timestamp("2024-01-01 03:00", tz="UTC")
    assert info.end == pd.Timestamp("2024-01-01 06:00", tz="UTC")
    sol = next(s for s in info.sources if s.series == "binance SOL/USDT ohlcv 1h")
    assert (sol.rows, sol.first.hour, sol.last.hour) == (3, 3, 5)


def test_perp_stands_in_for_mark_and_is_the_trade_price(store):
    m, info = build(store)
    np.testing.assert_array_equal(m.mark_close[:, 0], 2001 + 10 * np.arange(12))
    np.testing.assert_array_equal(m.mark_high[:, 0], 2001 + 10 * np.arange(12) + 1.0)
    np.testing.assert_array_equal(m.trade_close[:, 0], m.mark_close[:, 0])
    np.testing.assert_array_equal(m.coin_usd[:, 0], 2000 + 10 * np.arange(12))
    assert (
        "binance ETH/USD:ETH: no mark candles; Binance ETH/USD:ETH perp last price (1h candles) "
        "stands in for the mark"
    ) in m.notes
    assert "USD values use USDT prices, taking 1 USDT = 1 USD" in m.notes
    assert info.legs[0].kind is InstrumentKind.INVERSE and info.legs[0].contract_size == 10.0
    assert m.leg_kind == (InstrumentKind.INVERSE,)
    assert m.legs == ("binance ETH/USD:ETH",)


def test_spot_stands_in_when_no_perp_candles(tmp_path):
    s = Store(tmp_path)
    s.write(_key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20 + np.arange(4)))
    s.write(_key("ETH/USDT", "ohlcv"), candles("2024-01-01", [2000, 2010, 2020, 2030]))
    s.write(_key("ETH/USD:ETH", "funding"), funding(["2024-01-01"], [0.0001]), INV)
    m, info = build(s, end="2024-01-01 04:00")
    assert (
        "binance ETH/USD:ETH: no mark candles; Binance spot ETH/USDT close stands in for the mark"
    ) in m.notes
    np.testing.assert_array_equal(m.mark_close[:, 0], [2000, 2010, 2020, 2030])
    np.testing.assert_array_equal(m.trade_close[:, 0], [2000, 2010, 2020, 2030])
    assert info.legs[0].trade_source == "the mark (Binance spot ETH/USDT close)"
    # an explicit 'last' substitute needs the perp candles: the data layer's message
    with pytest.raises(MissingDataError, match=r"ETH_USD_ETH-1h-ohlcv\.parquet.*backtest download"):
        build(s, end="2024-01-01 04:00", mark_substitute="last")
    with pytest.raises(MissingDataError, match=r"ETH_USD_ETH-1h-mark\.parquet.*--series mark"):
        build(s, end="2024-01-01 04:00", mark_substitute="none")


def test_explicit_spot_substitute_keeps_perp_as_trade_price(store):
    m, _ = build(store, mark_substitute="spot")
    np.testing.assert_array_equal(m.mark_close[:, 0], 2000 + 10 * np.arange(12))
    np.testing.assert_array_equal(m.trade_close[:, 0], 2001 + 10 * np.arange(12))


def test_real_mark_candles_are_used_without_a_note(store):
    store.write(_key("ETH/USD:ETH", "mark"), candles("2024-01-01", 1999 + 10 * np.arange(12)), INV)
    m, info = build(store)
    np.testing.assert_array_equal(m.mark_close[:, 0], 1999 + 10 * np.arange(12))
    np.testing.assert_array_equal(m.trade_close[:, 0], 2001 + 10 * np.arange(12))
    assert not any("stands in" in n for n in m.notes)
    assert info.legs[0].mark_source == "Binance ETH/USD:ETH mark price (1h candles)"


def test_gap_refused_with_spans(store):
    store.write(
        _key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20 + np.arange(12), skip=(4, 5, 8))
    )
    with pytest.raises(DataValidationError) as info:
        build(store)
    assert str(info.value) == (
        "binance SOL/USDT ohlcv 1h: 2 gap(s) in the run window: 2024-01-01 04:00 UTC .. "
        "2024-01-01 06:00 UTC (2 missing); 2024-01-01 08:00 UTC .. 2024-01-01 09:00 UTC "
        "(1 missing); data.gap_policy is refuse (set gap_policy: ffill and max_fill_bars: 2 or "
        "more to carry the last close over them)"
    )


def test_gap_forward_filled_and_reported(store):
    store.write(
        _key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20 + np.arange(12), skip=(4, 5, 8))
    )
    m, _ = build(store, gap_policy="ffill", max_fill_bars=2)
    np.testing.assert_array_equal(
        m.spot_close[:, 0], [20, 21, 22, 23, 23, 23, 26, 27, 27, 29, 30, 31]
    )
    assert (
        "binance SOL/USDT ohlcv 1h: carried the last close forward as flat bars over 3 missing "
        "bar(s): 2024-01-01 04:00 UTC .. 2024-01-01 06:00 UTC (2 missing); 2024-01-01 08:00 UTC "
        ".. 2024-01-01 09:00 UTC (1 missing)"
    ) in m.notes


def test_ffilled_mark_bars_are_flat(store):
    store.write(
        _key("ETH/USD:ETH", "ohlcv"),
        candles("2024-01-01", 2001 + 10 * np.arange(12), skip=(3,)),
        INV,
    )
    m, _ = build(store, gap_policy="ffill", max_fill_bars=1)
    assert m.mark_close[3, 0] == m.mark_high[3, 0] == m.mark_low[3, 0] == 2021.0


def test_gap_longer_than_max_fill_is_refused(store):
    store.write(_key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20 + np.arange(12), skip=(4, 5)))
    with pytest.raises(
        DataValidationError,
        match=r"^binance SOL/USDT ohlcv 1h: gap 2024-01-01 04:00 UTC \.\. 2024-01-01 06:00 UTC "
        r"\(2 missing\) is longer than data\.max_fill_bars = 1; refusing",
    ):
        build(store, gap_policy="ffill", max_fill_bars=1)


@pytest.mark.parametrize("policy", ["refuse", "ffill"])
def test_leading_missing_data_is_an_error(store, policy):
    store.write(_key("SOL/USDT", "ohlcv"), candles("2024-01-01 03:00", 20 + np.arange(9)))
    with pytest.raises(
        DataValidationError,
        match=r"^binance SOL/USDT ohlcv 1h: data starts at 2024-01-01 03:00 UTC, after the run "
        r"start 2024-01-01 00:00 UTC",
    ):
        build(store, gap_policy=policy, max_fill_bars=5)


def test_trailing_missing_data_is_an_error(store):
    store.write(_key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20 + np.arange(10)))
    with pytest.raises(
        DataValidationError,
        match=r"^binance SOL/USDT ohlcv 1h: data ends at 2024-01-01 09:00 UTC, before the last "
        r"bar of the run \(2024-01-01 11:00 UTC\)",
    ):
        build(store, gap_policy="ffill", max_fill_bars=5)


def test_no_bars_in_window_names_file_span(store):
    with pytest.raises(
        DataValidationError,
        match=r"^binance SOL/USDT ohlcv 1h: no bars in the run window 2024-02-01 00:00 UTC \.\. "
        r"2024-02-01 02:00 UTC; the file covers 2024-01-01 00:00 UTC \.\. 2024-01-01 11:00 UTC",
    ):
        build(store, start="2024-02-01", end="2024-02-01 02:00")


def test_missing_funding_file(tmp_path):
    s = Store(tmp_path)
    s.write(_key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20 + np.arange(4)))
    s.write(_key("ETH/USDT", "ohlcv"), candles("2024-01-01", [2000, 2010, 2020, 2030]))
    with pytest.raises(
        MissingDataError,
        match=r"ETH_USD_ETH-funding\.parquet; fetch it with: backtest download --exchange binance "
        r"--symbol ETH/USD:ETH --series funding",
    ):
        build(s, end="2024-01-01 04:00")


def test_kind_mismatch_and_missing_contract_size(store):
    with pytest.raises(ConfigError) as info:
        build(store, legs=[LegSpec("binance", "ETH/USD:ETH", InstrumentKind.LINEAR)])
    assert str(info.value) == (
        "hedge.legs[0].kind: linear contradicts the data for ETH/USD:ETH, which is inverse"
    )
    store.write(_key("ETH/USD:ETH", "ohlcv"), candles("2024-01-01", 2001 + np.arange(12)), {})
    store.write(
        _key("ETH/USD:ETH", "funding"),
        funding(["2024-01-01 00:00", "2024-01-01 08:00"], [0.0, 0.0]),
        {},
    )
    with pytest.raises(ConfigError, match=r"^hedge\.legs\[0\]\.contract_size: the data for"):
        build(store)
    m, info = build(store, legs=[LegSpec("binance", "ETH/USD:ETH", None, 10.0)])
    assert m.leg_kind == (InstrumentKind.INVERSE,)  # from the symbol: settled in its base coin


def test_not_a_swap_symbol(store):
    with pytest.raises(ConfigError, match=r"^hedge\.legs\[0\]\.symbol: 'ETH/USDT' is not a perp"):
        build(store, legs=[LegSpec("binance", "ETH/USDT")])


def test_fingerprint_names_data_and_slice(store):
    _, a = build(store)
    _, b = build(store)
    assert a.fingerprint == b.fingerprint and len(a.fingerprint) == 64
    _, c = build(store, end="2024-01-01 11:00")
    assert c.fingerprint != a.fingerprint
    store.write(_key("SOL/USDT", "ohlcv"), candles("2024-01-01", 20.5 + np.arange(12)))
    _, d = build(store)
    assert d.fingerprint != a.fingerprint


def test_required_data_without_and_with_store(store):
    legs = [LegSpec("binance", "ETH/USD:ETH", InstrumentKind.INVERSE)]
    kw = dict(timeframe="1h", spot_exchange="binance", coins=["SOL", "ETH"], legs=legs)
    names = [str(k) for k in required_data(**kw)]
    assert names == [
        "binance SOL/USDT ohlcv 1h",
        "binance ETH/USDT ohlcv 1h",
        "binance ETH/USD:ETH mark 1h",
        "binance ETH/USD:ETH ohlcv 1h",
        "binance ETH/USD:ETH funding",
    ]
    names = [str(k) for k in required_data(**kw, store=store)]
    assert names == [
        "binance SOL/USDT ohlcv 1h",
        "binance ETH/USDT ohlcv 1h",
        "binance ETH/USD:ETH ohlcv 1h",
        "binance ETH/USD:ETH funding",
    ]
    names = [str(k) for k in required_data(**kw, mark_substitute="spot")]
    assert "binance ETH/USD:ETH mark 1h" not in names


def test_unknown_option_is_a_config_error(store):
    with pytest.raises(ConfigError, match=r"^data: unknown option 'skip'; allowed: refuse, ffill"):
        build(store, gap_policy="skip")


def test_bars_on_another_clock_are_refused(tmp_path):
    """A daily file on the 08:00 UTC clock is never read as a 00:00 daily bar."""
    s = Store(tmp_path / "data")
    day = pd.Timedelta(days=1)
    s.write(SeriesKey("binance", "SOL/USDT", "ohlcv", "1d"), candles("2024-01-01", [20, 21], day))
    key = SeriesKey("deribit", "ETH/USD:ETH", "ohlcv", "1d")
    s.write(key, candles("2024-01-01 08:00", [2000, 2010], day), {**INV, "bar_offset": "8h"})
    with pytest.raises(
        DataValidationError,
        match=r"ETH_USD_ETH-1d-ohlcv\.parquet: bars open at 2024-01-01 08:00 UTC \(its bars are "
        r"shifted by 8h\), off this run's 1d bars that open at 2024-01-01 00:00 UTC; a price is "
        r"never read on another clock$",
    ):
        build(
            s,
            timeframe="1d",
            start="2024-01-01",
            end="2024-01-03",
            legs=[LegSpec("deribit", "ETH/USD:ETH", InstrumentKind.INVERSE)],
            mark_substitute="perp",
        )
