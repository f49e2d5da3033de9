"""The bundled data/ store: known values at known UTC instants against the raw files in
../shared/data (read here with plain pandas, independently of the importers), agreement of
independent sources where they overlap, metadata, size, validity.

The raw folder sits beside the repository (``<repo>/../shared/data``); these tests skip with a
reason when it is absent. The checks on data/ alone (validity, metadata, size) always run.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from perphedge.data.loader import load
from perphedge.data.store import Store
from perphedge.data.validate import validate_frame

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SHARED = REPO.parent / "shared" / "data"
needs_raw = pytest.mark.skipif(
    not (SHARED / "SOURCES.md").is_file(),
    reason=f"raw source data not found at {SHARED} (expected beside the repo as ../shared/data)",
)

AHA = "inverse_perp/binance_bybit_okx_BTC_ETH_spot_coinm_usdtm_8h_2023-01_2024-07.csv"
FPC = "inverse_perp/binance_coinm_BTCUSD_PERP_8h_funding_spot_perp_ohlc_2020-08_2025-04.csv"
CDD = "inverse_perp/binance_coinm_BTCUSD_PERP_1h_last_price_ohlcv_2020-08_2024-08_cryptodatadownload.csv"
LONDON_FUNDING = "inverse_perp/binance_coinm_BTCUSD_PERP_funding_2021-07_2024-07_londontime.csv"
STORE = Store(DATA)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def frame(exchange: str, symbol: str, series: str, tf: str | None = None) -> pd.DataFrame:
    return load(STORE, exchange, symbol, series, tf).frame


def london_to_utc(text: str) -> pd.Timestamp:
    """Independent conversion: fold=0 takes the first (summer-time) reading of a repeated hour."""
    local = datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/London"), fold=0)
    return pd.Timestamp(local).tz_convert("UTC")


@pytest.fixture(scope="module")
def aha() -> pd.DataFrame:
    raw = pd.read_csv(SHARED / AHA)
    raw["utc"] = [london_to_utc(t) for t in raw["time"]]
    return raw


def aha_rows(aha: pd.DataFrame, exchange: str, pair: str) -> pd.DataFrame:
    rows = aha[(aha["exchange"] == exchange) & (aha["pair"] == pair)].set_index("utc")
    return rows[(rows.index >= ts("2023-01-01")) & (rows.index < ts("2024-07-01"))]


# ---------------------------------------------------------------- data/ on its own


def test_bundled_store_is_small_and_valid():
    files = sorted(DATA.rglob("*.parquet"))
    assert len(files) >= 40
    total = sum(p.stat().st_size for p in files)
    assert total < 15 * 1024 * 1024
    for key, _path in STORE.iter_files():
        f, _ = STORE.read(key)
        report = validate_frame(f, key.series, key.timeframe, label=str(key))
        assert report.errors == [], key


def test_bundled_required_series_exist():
    spot = ["ETH", "BTC", "SOL", "AVAX", "ADA", "DOT", "NEAR", "ATOM"]
    for coin in spot:
        f = frame("binance", f"{coin}/USDT", "ohlcv", "1h")
        assert f.index[0] == ts("2023-01-01 00:00") and f.index[-1] == ts("2024-06-30 23:00")
    for ex in ("binance", "bybit", "okx"):
        for coin in ("ETH", "BTC"):
            inv = frame(ex, f"{coin}/USD:{coin}", "ohlcv", "8h")
            fund = frame(ex, f"{coin}/USD:{coin}", "funding")
            assert inv.index[0] <= ts("2023-01-01") and inv.index[-1] >= ts("2024-06-30 16:00")
            assert fund.index[0] <= ts("2023-01-01") and fund.index[-1] >= ts("2024-06-30 16:00")
            # 8h funding over the window: 547 days * 3 events
            window = fund[(fund.index >= ts("2023-01-01")) & (fund.index < ts("2024-07-01"))]
            assert len(window) == 1641
            assert (window["interval_hours"] == 8.0).all()
    for coin in ("ETH", "BTC"):
        assert len(frame("binance", f"{coin}/USDT:USDT", "mark", "1h")) == 13128
        assert len(frame("binance", f"{coin}/USDT:USDT", "funding")) == 1641


@pytest.mark.parametrize(
    ("exchange", "coin", "size"),
    [
        ("binance", "BTC", 100.0),
        ("binance", "ETH", 10.0),
        ("bybit", "BTC", 1.0),
        ("bybit", "ETH", 1.0),
        ("okx", "BTC", 100.0),
        ("okx", "ETH", 10.0),
    ],
)
def test_bundled_inverse_metadata(exchange, coin, size):
    for series, tf in (("ohlcv", "8h"), ("funding", None)):
        meta = load(STORE, exchange, f"{coin}/USD:{coin}", series, tf).meta
        assert meta["kind"] == "inverse"
        assert meta["contract_size"] == size
        assert (
            "last-trade" in meta["mark_substitute"] or "mark substitute" in meta["mark_substitute"]
        )
        assert meta["source"]
        assert meta["market_type"] == "swap"


def test_bundled_linear_metadata():
    meta = load(STORE, "binance", "ETH/USDT:USDT", "mark", "1h").meta
    assert meta["kind"] == "linear" and meta["contract_size"] == 0.001
    assert meta["mark_substitute"] is None
    assert load(STORE, "binance", "ETH/USDT", "ohlcv", "1h").meta["kind"] is None


# ---------------------------------------------------------------- known values vs raw files


@needs_raw
def test_fpc_timestamp_is_bar_close_and_funding_time():
    raw = pd.read_csv(SHARED / FPC)
    first = raw.iloc[0]
    assert first["Timestamp"] == "2020-08-11 08:00:00" and first["Open_futures"] == 11785.0
    perp = frame("binance", "BTC/USD:BTC", "ohlcv", "8h")
    spot = frame("binance", "BTC/USDT", "ohlcv", "8h")
    fund = frame("binance", "BTC/USD:BTC", "funding")
    assert perp.loc[ts("2020-08-11 00:00"), "open"] == 11785.0
    assert spot.loc[ts("2020-08-11 00:00"), "open"] == 11892.9
    assert fund.loc[ts("2020-08-11 08:00"), "funding_rate"] == 0.0001
    # every row: bar open = Timestamp - 8h for prices; funding at Timestamp itself
    close_utc = pd.DatetimeIndex(pd.to_datetime(raw["Timestamp"])).tz_localize("UTC")
    opens = close_utc - pd.Timedelta(hours=8)
    assert np.array_equal(perp.loc[opens, "open"].to_numpy(), raw["Open_futures"].to_numpy())
    assert np.array_equal(perp.loc[opens, "low"].to_numpy(), raw["Low_futures"].to_numpy())
    assert np.array_equal(spot.loc[opens, "close"].to_numpy(), raw["Close_spot"].to_numpy())
    assert np.array_equal(spot.loc[opens, "volume"].to_numpy(), raw["Volume"].to_numpy())
    assert np.array_equal(
        fund.loc[close_utc, "funding_rate"].to_numpy(), raw["Funding Rate"].to_numpy()
    )


@needs_raw
def test_aha_london_time_known_instants(aha):
    # 2023-07-01 01:00 BST is the 8h bar opening 2023-07-01 00:00 UTC
    okx = frame("okx", "ETH/USD:ETH", "ohlcv", "8h")
    assert okx.loc[ts("2023-07-01 00:00"), "open"] == 1927.47
    assert okx.loc[ts("2023-07-01 00:00"), "close"] == 1920.69
    okx_f = frame("okx", "ETH/USD:ETH", "funding")
    assert okx_f.loc[ts("2023-07-01 00:00"), "funding_rate"] == 0.0001427266456923
    # winter: London = UTC
    bybit = frame("bybit", "BTC/USD:BTC", "ohlcv", "8h")
    assert bybit.loc[ts("2023-01-15 08:00"), "open"] == 20735.5
    # DST fallback 2023-10-29 01:00 (first reading, BST) = 00:00 UTC
    eth = frame("binance", "ETH/USD:ETH", "ohlcv", "8h")
    assert eth.loc[ts("2023-10-29 00:00"), "open"] == 1776.37
    assert ts("2023-10-29 01:00") not in eth.index


@needs_raw
@pytest.mark.parametrize(
    ("exchange", "pair", "symbol", "series"),
    [
        (ex, pair, sym, series)
        for ex in ("binance", "bybit", "okx")
        for coin in ("BTC", "ETH")
        for pair, sym, series in (
            (f"{coin}USDCM", f"{coin}/USD:{coin}", "ohlcv"),
            (f"{coin}USDCM", f"{coin}/USD:{coin}", "funding"),
            (f"{coin}USDT", f"{coin}/USDT:USDT", "ohlcv"),
            (f"{coin}USDT", f"{coin}/USDT:USDT", "funding"),
            (f"{coin}/USDT", f"{coin}/USDT", "ohlcv"),
        )
    ],
)
def test_aha_every_series_matches_raw(aha, exchange, pair, symbol, series):
    rows = aha_rows(aha, exchange, pair)
    assert len(rows) == 1641
    stored = frame(exchange, symbol, series, "8h" if series == "ohlcv" else None)
    stored = stored[(stored.index >= ts("2023-01-01")) & (stored.index < ts("2024-07-01"))]
    assert stored.index.equals(rows.index.as_unit("ns").rename("timestamp"))
    if series == "ohlcv":
        for col in ("open", "high", "low", "close"):
            assert np.array_equal(stored[col].to_numpy(), rows[col].to_numpy()), col
    else:
        assert np.array_equal(stored["funding_rate"].to_numpy(), rows["funding rate"].to_numpy())


@needs_raw
def test_cdd_known_rows_and_all_opens():
    raw = pd.read_csv(SHARED / CDD, skiprows=1)
    assert raw.iloc[0]["Unix"] == 1723158000000  # newest first
    stored = frame("binance", "BTC/USD:BTC", "ohlcv", "1h")
    assert stored.loc[ts("2024-08-08 23:00"), "open"] == 62349.0
    assert stored.loc[ts("2022-03-01 08:00"), "close"] == 43499.4
    assert stored.loc[ts("2022-03-01 08:00"), "volume"] == 2171046.0
    utc = pd.DatetimeIndex(pd.to_datetime(raw["Unix"], unit="ms", utc=True))
    assert len(stored) == len(raw) == 34724
    assert np.array_equal(stored.loc[utc, "open"].to_numpy(), raw["Open"].to_numpy())
    # the Date column says the same instants in UTC
    assert pd.DatetimeIndex(pd.to_datetime(raw["Date"])).tz_localize("UTC").equals(utc)


@needs_raw
def test_spot_and_usdtm_feathers_match_raw():
    for coin in ("ETH", "SOL"):
        raw = pd.read_feather(SHARED / f"spot_1h/binance_spot_{coin}_USDT-1h.feather").set_index(
            "date"
        )
        stored = frame("binance", f"{coin}/USDT", "ohlcv", "1h")
        assert np.array_equal(stored["close"].to_numpy(), raw.loc[stored.index, "close"].to_numpy())
    raw = pd.read_feather(
        SHARED / "linear_perp/binance_freqtrade/binance_usdtm_BTC_USDT_USDT-1h-funding_rate.feather"
    ).set_index("date")
    stored = frame("binance", "BTC/USDT:USDT", "funding")
    assert np.array_equal(
        stored["funding_rate"].to_numpy(), raw.loc[stored.index, "open"].to_numpy()
    )
    raw = pd.read_feather(
        SHARED / "linear_perp/binance_freqtrade/binance_usdtm_ETH_USDT_USDT-1h-mark.feather"
    ).set_index("date")
    stored = frame("binance", "ETH/USDT:USDT", "mark", "1h")
    assert np.array_equal(stored["high"].to_numpy(), raw.loc[stored.index, "high"].to_numpy())


# ---------------------------------------------------------------- independent sources agree


@needs_raw
def test_binance_coinm_btc_funding_three_sources_agree(aha):
    fpc = frame("binance", "BTC/USD:BTC", "funding")["funding_rate"]
    rows = aha_rows(aha, "binance", "BTCUSDCM")["funding rate"]
    common = fpc.index.intersection(rows.index)
    assert len(common) == 1641
    assert np.array_equal(fpc.loc[common].to_numpy(), rows.loc[common].to_numpy())
    london = pd.read_csv(SHARED / LONDON_FUNDING)
    london.index = pd.DatetimeIndex([london_to_utc(t) for t in london["Time"]])
    common = fpc.index.intersection(london.index)
    assert len(common) == 3289
    assert np.array_equal(fpc.loc[common].to_numpy(), london.loc[common, "Funding Rate"].to_numpy())


@needs_raw
def test_8h_spot_opens_equal_1h_spot_opens():
    for coin in ("BTC", "ETH"):
        h8 = frame("binance", f"{coin}/USDT", "ohlcv", "8h")["open"]
        h1 = frame("binance", f"{coin}/USDT", "ohlcv", "1h")["open"]
        common = h8.index.intersection(h1.index)
        assert len(common) == 1641
        assert np.array_equal(h8.loc[common].to_numpy(), h1.loc[common].to_numpy())
    # and against the raw 1h feather over the whole FrancyPengChoco span
    raw = pd.read_feather(SHARED / "spot_1h/binance_spot_BTC_USDT-1h.feather").set_index("date")
    h8 = frame("binance", "BTC/USDT", "ohlcv", "8h")["open"]
    common = h8.index.intersection(raw.index)
    assert len(common) >= 5160
    assert np.array_equal(h8.loc[common].to_numpy(), raw.loc[common, "open"].to_numpy())


@needs_raw
def test_cdd_1h_perp_opens_equal_fpc_8h_perp_opens():
    h1 = frame("binance", "BTC/USD:BTC", "ohlcv", "1h")["open"]
    h8 = frame("binance", "BTC/USD:BTC", "ohlcv", "8h")["open"]
    common = h8.index.intersection(h1.index)
    assert len(common) == 4322
    assert np.array_equal(h8.loc[common].to_numpy(), h1.loc[common].to_numpy())


@needs_raw
def test_atom_pieces_cover_window_without_holes():
    stored = frame("binance", "ATOM/USDT", "ohlcv", "1h")
    mounik = pd.read_feather(
        SHARED / "spot_1h/atom_pieces/binance_spot_ATOM_USDT-1h_2020-05_2024-05__Mounik.feather"
    ).set_index("date")
    gene = pd.read_feather(
        SHARED / "spot_1h/atom_pieces/binance_spot_ATOM_USDT-1h_2024-01_2024-09__GeneTrader.feather"
    ).set_index("date")
    early = stored[stored.index < ts("2024-05-01")]
    late = stored[stored.index >= ts("2024-05-09")]
    assert np.array_equal(early["close"].to_numpy(), mounik.loc[early.index, "close"].to_numpy())
    assert np.array_equal(late["close"].to_numpy(), gene.loc[late.index, "close"].to_numpy())
    # only the exchange-wide outage hour is missing, as in the other spot files
    assert [
        (g.start, g.missing_bars) for g in load(STORE, "binance", "ATOM/USDT", "ohlcv", "1h").gaps
    ] == [(ts("2023-03-24 13:00"), 1)]
