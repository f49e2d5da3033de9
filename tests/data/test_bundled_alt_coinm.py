"""The six alt COIN-M perps' funding and rebuilt 8h mark bars, and the alts' 8h spot bars.

Known values are those listed for the jyz0328 JSON in ../shared/data/SOURCES.md (funding time
in ms -> rate, mark); the 8h spot bars are checked against the 1h bars they are made of.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from perphedge.data.loader import load
from perphedge.data.store import Store

REPO = Path(__file__).resolve().parents[2]
STORE = Store(REPO / "data")
COINS = ("SOL", "AVAX", "ADA", "DOT", "NEAR", "ATOM")

# (coin, UTC funding hour, rate, mark) from the SOURCES.md table
KNOWN = [
    ("SOL", "2024-04-11 00:00", 0.0001, 173.35574317),
    ("SOL", "2024-05-15 16:00", -0.00006403, 151.75950871),
    ("DOT", "2024-05-15 16:00", -0.00013224, 6.86528603),
    ("NEAR", "2024-04-11 00:00", 0.00022509, 6.98763653),
    ("ATOM", "2024-06-19 16:00", 0.00009085, 6.845),
    ("ADA", "2024-06-19 16:00", 0.0001, 0.38318526),
    ("AVAX", "2024-05-15 16:00", 0.0001, 34.0754659),
]


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.mark.parametrize(("coin", "when", "rate", "mark"), KNOWN)
def test_funding_and_mark_at_known_instants(coin: str, when: str, rate: float, mark: float):
    funding = load(STORE, "binance", f"{coin}/USD:{coin}", "funding").frame
    assert len(funding) == 210
    assert funding.loc[ts(when), "funding_rate"] == rate
    assert funding.loc[ts(when), "mark_price"] == mark
    bars = load(STORE, "binance", f"{coin}/USD:{coin}", "mark", "8h").frame
    # the mark at a funding time closes the 8h bar that ends then and opens the next one
    if ts(when) > ts("2024-04-11 00:00"):
        assert bars.loc[ts(when) - pd.Timedelta(hours=8), "close"] == mark
    if ts(when) < ts("2024-06-19 16:00"):
        assert bars.loc[ts(when), "open"] == mark


@pytest.mark.parametrize("coin", COINS)
def test_mark_bars_and_metadata(coin: str):
    loaded = load(STORE, "binance", f"{coin}/USD:{coin}", "mark", "8h")
    bars = loaded.frame
    assert len(bars) == 209
    assert bars.index[0] == ts("2024-04-11 00:00") and bars.index[-1] == ts("2024-06-19 08:00")
    assert np.array_equal(bars["open"].to_numpy()[1:], bars["close"].to_numpy()[:-1])
    assert (bars["high"] == bars[["open", "close"]].max(axis=1)).all()
    assert loaded.meta["kind"] == "inverse" and loaded.meta["contract_size"] == 10.0
    assert "CLOSE of the 8h bar that ends then" in loaded.meta["utc_conversion"]


@pytest.mark.parametrize("coin", COINS)
def test_8h_spot_is_the_1h_bars_aggregated(coin: str):
    h8 = load(STORE, "binance", f"{coin}/USDT", "ohlcv", "8h").frame
    h1 = load(STORE, "binance", f"{coin}/USDT", "ohlcv", "1h").frame
    bar = ts("2024-05-15 08:00")
    hours = h1.loc[bar : bar + pd.Timedelta(hours=7)]
    assert len(hours) == 8
    assert h8.loc[bar, "open"] == hours["open"].iloc[0]
    assert h8.loc[bar, "high"] == hours["high"].max()
    assert h8.loc[bar, "low"] == hours["low"].min()
    assert h8.loc[bar, "close"] == hours["close"].iloc[-1]
    assert h8.loc[bar, "volume"] == pytest.approx(hours["volume"].sum(), rel=1e-12)
