"""A whole freqtrade ``user_data/data/<exchange>/`` folder imports in one command, pair,
timeframe and candle type read from freqtrade's file names; malformed files are one-line
errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.data.freqtrade import parse_freqtrade_name
from perphedge.data.store import SeriesKey, Store
from perphedge.domain import Series, Timeframe


def run(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args])


def candles(n: int, freq: str, base: float) -> pd.DataFrame:
    """freqtrade's candle frame: ``date`` (UTC) and OHLCV."""
    o = base + np.arange(n, dtype="float64")
    return pd.DataFrame(
        {
            "date": pd.date_range("2023-01-01", periods=n, freq=freq, tz="UTC"),
            "open": o, "high": o + 2, "low": o - 1, "close": o + 1, "volume": 10.0,
        }
    )  # fmt: skip


def json_rows(frame: pd.DataFrame) -> list[list[float]]:
    """freqtrade's json layout: ``[ms, open, high, low, close, volume]`` per candle."""
    ms = frame["date"].dt.as_unit("ms").astype("int64")
    values = frame[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
    return [[int(t), *v] for t, v in zip(ms, values, strict=True)]


@pytest.fixture
def ft_folder(tmp_path) -> Path:
    """A tiny freqtrade data folder: spot feather and json.gz, futures last/mark/funding."""
    root = tmp_path / "user_data" / "data" / "binance"
    (root / "futures").mkdir(parents=True)
    candles(4, "1h", 100.0).to_feather(root / "BTC_USDT-1h.feather")
    with gzip.open(root / "ETH_USDT-1h.json.gz", "wt") as fh:
        json.dump(json_rows(candles(3, "1h", 50.0)), fh)
    (root / "SOL_USDT-1h.json").write_text(json.dumps(json_rows(candles(2, "1h", 20.0))))
    candles(4, "1h", 200.0).to_feather(root / "futures" / "BTC_USDT_USDT-1h-futures.feather")
    candles(2, "8h", 201.0).to_parquet(root / "futures" / "BTC_USDT_USDT-8h-mark.parquet")
    funding = candles(3, "8h", 0.0)
    funding["open"] = [1e-4, -2e-4, 3e-4]
    funding[["high", "low", "close", "volume"]] = 0.0
    funding.to_feather(root / "futures" / "BTC_USDT_USDT-8h-funding_rate.feather")
    (root / "futures" / "BTC_USDT_USDT-8h-premiumIndex.feather").write_bytes(b"")
    return root


def test_freqtrade_file_names():
    f = parse_freqtrade_name(Path("futures/BTC_USD_BTC-1h-mark.feather"))
    assert (f.symbol, f.timeframe, f.series) == ("BTC/USD:BTC", Timeframe.parse("1h"), Series.MARK)
    f = parse_freqtrade_name(Path("ETH_USDT-4h.json.gz"))
    assert (f.symbol, f.timeframe, f.series) == ("ETH/USDT", Timeframe.parse("4h"), Series.OHLCV)
    f = parse_freqtrade_name(Path("ETH_USDT_USDT-8h-funding_rate.parquet"))
    assert (f.symbol, f.series) == ("ETH/USDT:USDT", Series.FUNDING)
    with pytest.raises(ValueError, match=r"^candle type 'premiumIndex' has no place"):
        parse_freqtrade_name(Path("ETH_USDT_USDT-8h-premiumIndex.feather"))
    with pytest.raises(ValueError, match=r"^not a freqtrade candle file name"):
        parse_freqtrade_name(Path("ETH_USDT_USDT-trades.feather"))


def test_whole_folder_imports_in_one_command(ft_folder, tmp_path):
    store_dir = tmp_path / "d"
    result = run("data", "import", ft_folder, "--data-dir", store_dir)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    wrote = [ln for ln in lines if ln.startswith("wrote ")]
    assert [ln.split("(", 1)[1] for ln in wrote] == [
        "binance BTC/USDT ohlcv 1h; new file)",
        "binance ETH/USDT ohlcv 1h; new file)",
        "binance SOL/USDT ohlcv 1h; new file)",
        "binance BTC/USDT:USDT ohlcv 1h; new file)",
        "binance BTC/USDT:USDT funding; new file)",
        "binance BTC/USDT:USDT mark 8h; new file)",
    ]
    assert (
        f"skipped {ft_folder / 'futures' / 'BTC_USDT_USDT-8h-premiumIndex.feather'}: "
        "candle type 'premiumIndex' has no place in the store"
    ) in lines
    assert "note: exchange binance taken from the folder name (--exchange to change)" in lines
    store = Store(store_dir)
    spot, _ = store.read(SeriesKey("binance", "BTC/USDT", "ohlcv", "1h"))
    assert spot["close"].tolist() == [101.0, 102.0, 103.0, 104.0]
    eth, _ = store.read(SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"))
    assert eth.index[-1] == pd.Timestamp("2023-01-01 02:00", tz="UTC")
    assert eth["open"].tolist() == [50.0, 51.0, 52.0]
    perp, meta = store.read(SeriesKey("binance", "BTC/USDT:USDT", "ohlcv", "1h"))
    assert perp["open"].tolist() == [200.0, 201.0, 202.0, 203.0] and meta["kind"] == "linear"
    mark, _ = store.read(SeriesKey("binance", "BTC/USDT:USDT", "mark", "8h"))
    assert mark["high"].tolist() == [203.0, 204.0]
    funding, _ = store.read(SeriesKey("binance", "BTC/USDT:USDT", "funding"))
    assert funding["funding_rate"].tolist() == [1e-4, -2e-4, 3e-4]
    assert funding["interval_hours"].tolist() == [8.0, 8.0, 8.0]
    # again: everything is already there; without --merge it is refused, with it kept
    again = run("data", "import", ft_folder, "--data-dir", store_dir)
    assert again.exit_code == 2 and "already exists" in again.output
    again = run("data", "import", ft_folder, "--data-dir", store_dir, "--merge")
    assert again.exit_code == 0, again.output
    assert sum(ln.startswith("kept ") for ln in again.output.splitlines()) == 6


def test_single_freqtrade_files_without_symbol(ft_folder, tmp_path):
    result = run(
        "data", "import", ft_folder / "futures" / "BTC_USDT_USDT-8h-funding_rate.feather",
        ft_folder / "BTC_USDT-1h.feather", "--exchange", "okx", "--data-dir", tmp_path / "d",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Store(tmp_path / "d").exists(SeriesKey("okx", "BTC/USDT:USDT", "funding"))
    assert Store(tmp_path / "d").exists(SeriesKey("okx", "BTC/USDT", "ohlcv", "1h"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ETH_USDT-1h.json", b"[]", "no rows to import (the file holds no candles)"),
        ("ETH_USDT-1h.json", b'{"a": 1}', "cannot read freqtrade file (expected a JSON list"),
        ("ETH_USDT-1h.json", b"[[1672531200000, 1, 2", "cannot read freqtrade file (Expecting"),
        ("ETH_USDT-1h.json", b"[[1672531200000, 1]]", "row 1 is [1672531200000, 1]"),
        ("ETH_USDT-1h.json.gz", b"\x1f\x8b\x08garbage", "cannot read freqtrade file ("),
        ("ETH_USDT-1h.feather", b"not arrow", "cannot read freqtrade file ("),
    ],
)
def test_malformed_freqtrade_files_are_one_line_errors(tmp_path, name, content, message):
    src = tmp_path / name
    src.write_bytes(content)
    store = tmp_path / "d"
    result = run("data", "import", src, "--exchange", "binance", "--data-dir", store)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {src}")
    assert message in result.output and result.output.count("\n") == 1
    assert not store.exists()
