"""The bundled data/ store on its own: size, validity, the series and spans it promises, and
the contract metadata of every perp.

Comparing data/ with the raw sources it was converted from (known values at known UTC instants,
agreement of overlapping sources) is the maintainer check ``python scripts/build_bundled_data.py
--check``, which needs those sources beside the repository.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from perphedge.data.loader import load, read_checked
from perphedge.data.store import Store

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
STORE = Store(DATA)


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def frame(exchange: str, symbol: str, series: str, tf: str | None = None) -> pd.DataFrame:
    return load(STORE, exchange, symbol, series, tf).frame


# ---------------------------------------------------------------- data/ on its own


def test_bundled_store_is_small_and_valid():
    files = sorted(DATA.rglob("*.parquet"))
    assert len(files) >= 40
    total = sum(p.stat().st_size for p in files)
    assert total < 15 * 1024 * 1024
    for key, _path in STORE.iter_files():
        _, _, report = read_checked(STORE, key)  # rows and metadata, on the file's own clock
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


# ---------------------------------------------------------------- the maintainer check itself


def _script():
    """The script as a module (registered while it executes: it defines dataclasses)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "build_bundled_data", REPO / "scripts" / "build_bundled_data.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_check_compares_rows_values_and_metadata_but_not_fetched_at(tmp_path):
    import shutil

    script = _script()
    rel = "binance/swap/ETH_USD_ETH-funding.parquet"
    for side in ("built", "committed"):
        (tmp_path / side / rel).parent.mkdir(parents=True)
        shutil.copy(DATA / rel, tmp_path / side / rel)
    key = next(k for k, _ in Store(tmp_path / "built").iter_files())
    f, meta = Store(tmp_path / "built").read(key)
    f.iloc[5, f.columns.get_loc("funding_rate")] += 1e-6
    from perphedge.data.importers import write_imported

    write_imported(
        Store(tmp_path / "built"), key, f, {**meta, "fetched_at": "2030-01-01T00:00:00Z"}
    )
    c = script.Checker()
    refetched = script.compare_stores(c, tmp_path / "built", tmp_path / "committed")
    assert refetched == 1
    assert c.problems == [f"{rel} funding_rate: 1/{len(f)} differ (first at row 5)"]


def test_check_without_the_raw_sources_fails_in_one_line(tmp_path, capsys):
    assert _script().main(["--check", "--shared", str(tmp_path)]) == 1
    assert capsys.readouterr().out == (
        f"FAILED: the rebuild stopped: raw data not found: {tmp_path} (pass --shared)\n"
    )
