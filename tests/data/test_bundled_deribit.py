"""The Deribit BTC quarterlies: one 1d series per contract on the 08:00 UTC clock.

Known values are those listed for the sol008 CSV in ../shared/data/SOURCES.md: the row labelled
D is the close at (D+1) 08:00 UTC, so it is the close of the bar that opens at D 08:00 UTC.
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

# (label D, ccxt symbol, future close, BTC-PERPETUAL close) from the SOURCES.md list
KNOWN = [
    ("2023-01-01", "BTC/USD:BTC-230331", 16682.0, 16714.0),
    ("2023-06-30", "BTC/USD:BTC-230929", 30835.0, 30478.0),
    ("2023-12-29", "BTC/USD:BTC-240329", 43605.0, 41995.0),
    ("2024-03-29", "BTC/USD:BTC-240628", 73710.0, 69950.5),
    ("2024-07-31", "BTC/USD:BTC-240927", 65222.5, 64309.0),
]
# contract -> (first bar open, last bar open, bars): the days the source lists it
SPANS = {
    "BTC/USD:BTC-230331": ("2023-01-01", "2023-02-14", 45),
    "BTC/USD:BTC-230630": ("2023-02-15", "2023-05-16", 91),
    "BTC/USD:BTC-230929": ("2023-05-17", "2023-08-15", 91),
    "BTC/USD:BTC-231229": ("2023-08-16", "2023-11-14", 91),
    "BTC/USD:BTC-240329": ("2023-11-15", "2024-02-13", 91),
    "BTC/USD:BTC-240628": ("2024-02-14", "2024-05-14", 91),
    "BTC/USD:BTC-240927": ("2024-05-15", "2024-07-31", 78),
}


def at8(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=8)


@pytest.mark.parametrize(("label", "symbol", "fut", "perp"), KNOWN)
def test_closes_at_known_instants(label: str, symbol: str, fut: float, perp: float):
    future = load(STORE, "deribit", symbol, "ohlcv", "1d").frame
    assert future.loc[at8(label), "close"] == fut
    perpetual = load(STORE, "deribit", "BTC/USD:BTC", "ohlcv", "1d").frame
    assert perpetual.loc[at8(label), "close"] == perp


@pytest.mark.parametrize("symbol", sorted(SPANS))
def test_one_series_per_contract_on_the_0800_clock(symbol: str):
    loaded = load(STORE, "deribit", symbol, "ohlcv", "1d")
    bars = loaded.frame
    first, last, n = SPANS[symbol]
    assert (bars.index[0], bars.index[-1], len(bars)) == (at8(first), at8(last), n)
    assert loaded.gaps == []
    assert (bars.index.hour == 8).all() and str(bars.index.dtype) == "datetime64[ns, UTC]"
    # close-only source: each open is the previous close; the first bar is flat
    assert np.array_equal(bars["open"].to_numpy()[1:], bars["close"].to_numpy()[:-1])
    assert bars["open"].iloc[0] == bars["close"].iloc[0] == bars["high"].iloc[0]
    meta = loaded.meta
    assert (meta["kind"], meta["contract_size"], meta["bar_offset"]) == ("inverse", 10.0, "8h")
    assert "(D+1) 08:00 UTC" in meta["utc_conversion"]
    assert meta["source_instrument"].startswith("BTC-")


def test_the_first_bar_of_the_next_contract_follows_the_last_of_the_old_one():
    """The listed contract changes between two days: each old series ends the bar before its
    successor's first bar, so no instant has both prices (a roll must substitute one side)."""
    ordered = sorted(SPANS.items(), key=lambda kv: kv[1][0])
    for (_, (_, last, _)), (_, (first, _, _)) in zip(ordered[:-1], ordered[1:], strict=True):
        assert at8(first) - at8(last) == pd.Timedelta(days=1)
