"""A run at 4h from stored 1h candles equals the run on 4h files made by hand from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perphedge.data import SeriesKey, Store
from perphedge.runner import run

INV = {"kind": "inverse", "contract_size": 10.0}
RULE = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def hourly(n: int, base: float, seed: int) -> pd.DataFrame:
    """A random walk of n hourly candles from 2024-01-01."""
    rng = np.random.default_rng(seed)
    close = base * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[base], close[:-1]])
    idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.002,
            "low": np.minimum(open_, close) * 0.998,
            "close": close,
            "volume": 1.0,
        },
        index=idx,
    )


def write_stores(tmp_path: Path) -> tuple[Path, Path]:
    """The same 10 days as 1h files in one store and as hand-made 4h files in another."""
    fine, coarse = Store(tmp_path / "fine"), Store(tmp_path / "coarse")
    n = 240
    series = {
        SeriesKey("binance", "SOL/USDT", "ohlcv", "1h"): (hourly(n, 20.0, 1), None),
        SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"): (hourly(n, 2000.0, 2), None),
        SeriesKey("binance", "ETH/USD:ETH", "ohlcv", "1h"): (hourly(n, 2001.0, 2), INV),
    }
    for key, (frame, meta) in series.items():
        fine.write(key, frame, meta)
        four = frame.resample("4h", label="left", closed="left").agg(RULE)
        coarse.write(SeriesKey(key.exchange, key.symbol, key.series, "4h"), four, meta)
    times = pd.date_range("2024-01-01", periods=30, freq="8h", tz="UTC", name="timestamp")
    fund = pd.DataFrame({"funding_rate": 1e-4}, index=times)
    for store in (fine, coarse):
        store.write(SeriesKey("binance", "ETH/USD:ETH", "funding"), fund, INV)
    return fine.root, coarse.root


def config(root: Path) -> dict:
    return {
        "name": "resampled",
        "period": {"start": "2024-01-01", "end": "2024-01-11"},
        "timeframe": "4h",
        "data": {"root": str(root)},
        "basket": {"coins": {"SOL": 1.0}},
        "hedge": {"legs": [{"symbol": "ETH/USD:ETH"}]},
        "rebalance": {"every": "4h", "band": 0.0},
    }


def test_4h_run_from_1h_files_equals_run_on_hand_made_4h_files(tmp_path: Path) -> None:
    fine, coarse = write_stores(tmp_path)
    a, b = run(config(fine)), run(config(coarse))
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries, check_exact=True)
    assert a.metrics == b.metrics
    assert a.metrics["n_trades"] > 5  # the hedge really traded on the resampled prices
    assert "binance ETH/USD:ETH ohlcv 4h built from 1h candles" in a.meta["notes"]
    assert not any("built from" in n for n in b.meta["notes"])
    trade = a.meta["price_sources"][0]
    assert (trade["origin"], trade["built_from"], trade["timeframe"]) == ("resampled", "1h", "4h")
