"""``backtest data list|check|import`` through click's CliRunner on the real root group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.data.store import SeriesKey, Store

REPO = Path(__file__).resolve().parents[2]


def seed(root: Path) -> Store:
    store = Store(root)
    idx = pd.DatetimeIndex(
        [pd.Timestamp("2023-01-01", tz="UTC") + pd.Timedelta(hours=h) for h in (0, 1, 2, 5, 6)]
    )
    o = np.array([10.0, 11.0, 12.0, 15.0, 16.0])
    candles = pd.DataFrame({"open": o, "high": o + 1, "low": o - 1, "close": o, "volume": 1.0}, idx)
    store.write(SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"), candles)
    fidx = pd.date_range("2023-01-01", periods=3, freq="8h", tz="UTC")
    store.write(
        SeriesKey("binance", "ETH/USD:ETH", "funding"),
        pd.DataFrame({"funding_rate": [1e-4, 2e-4, 3e-4]}, fidx),
        {"kind": "inverse", "contract_size": 10},
    )
    return store


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_data_list_shows_span_rows_gaps(tmp_path):
    seed(tmp_path)
    result = run("data", "list", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["exchange", "symbol", "series", "tf"]
    assert lines[1].split() == [
        "binance",
        "ETH/USDT",
        "ohlcv",
        "1h",
        "2023-01-01",
        "00:00",
        "2023-01-01",
        "06:00",
        "5",
        "1",
        "2",
        "-",
    ]
    assert lines[2].split() == [
        "binance",
        "ETH/USD:ETH",
        "funding",
        "-",
        "2023-01-01",
        "00:00",
        "2023-01-01",
        "16:00",
        "3",
        "0",
        "0",
        "inverse",
    ]


def test_data_list_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("data", "list", "--data-dir", str(tmp_path / "empty"))
    assert result.exit_code == 0
    assert result.output == f"no data files under {tmp_path / 'empty'}\n"
    result = run("data", "list", "--data-dir", str(tmp_path / "none"))  # a typo is not empty
    assert result.exit_code == 2
    assert result.output == f"error: --data-dir: no folder {tmp_path / 'none'}\n"


def test_data_check_ok(tmp_path):
    seed(tmp_path)
    result = run("data", "check", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (
        f"OK   {tmp_path}/binance/spot/ETH_USDT-1h-ohlcv.parquet  5 rows (1 warning(s)"
        in result.output
    )
    assert result.output.endswith("2 file(s) OK\n")


def test_data_check_fails_with_exit_3(tmp_path):
    store = seed(tmp_path)
    bad = store.path(SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"))
    bad.write_bytes(bad.read_bytes()[:100])
    result = run("data", "check", "--data-dir", str(tmp_path))
    assert result.exit_code == 3
    assert f"FAIL {bad}: not a readable Parquet file" in result.output
    assert "error: 1 of 2 data file(s) failed validation: " in result.output


def test_data_check_reports_nan(tmp_path):
    store = Store(tmp_path)
    idx = pd.date_range("2023-01-01", periods=2, freq="8h", tz="UTC")
    store.write(
        SeriesKey("okx", "BTC/USD:BTC", "funding"),
        pd.DataFrame({"funding_rate": [1e-4, np.nan]}, idx),
    )
    result = run("data", "check", "--data-dir", str(tmp_path))
    assert result.exit_code == 3
    assert "NaN in funding_rate (1 rows, first at 2023-01-01 08:00 UTC)" in result.output


def test_data_import_csv_london(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text(
        "time,Open,High,Low,Close\n"
        "2023-07-01 01:00:00,100,110,90,105\n"
        "2023-07-01 09:00:00,105,111,101,106\n"
    )
    data_dir = tmp_path / "data"
    result = run(
        "data",
        "import",
        str(csv),
        "--data-dir",
        str(data_dir),
        "--exchange",
        "bybit",
        "--symbol",
        "BTC/USD:BTC",
        "--series",
        "ohlcv",
        "--timeframe",
        "8h",
        "--time-column",
        "time",
        "--timezone",
        "Europe/London",
        "--map",
        "volume=",
        "--kind",
        "inverse",
        "--contract-size",
        "1",
    )
    assert result.exit_code == 0, result.output
    path = data_dir / "bybit/swap/BTC_USD_BTC-8h-ohlcv.parquet"
    assert result.output.startswith(
        f"wrote {path}: 2 rows, 2023-07-01 00:00 .. 2023-07-01 08:00 UTC"
    )
    frame, meta = Store(data_dir).read(SeriesKey("bybit", "BTC/USD:BTC", "ohlcv", "8h"))
    assert frame["open"].tolist() == [100.0, 105.0]
    assert meta["kind"] == "inverse" and meta["contract_size"] == 1.0
    assert meta["source"] == str(csv)


def test_data_import_freqtrade_funding(tmp_path):
    raw = pd.DataFrame(
        {
            "date": pd.date_range("2023-01-01", periods=3, freq="8h", tz="UTC"),
            "open": [1e-4, 2e-4, 3e-4],
            "high": 0.0,
            "low": 0.0,
            "close": 0.0,
            "volume": 0.0,
        }
    )
    src = tmp_path / "ETH_USDT_USDT-1h-funding_rate.feather"
    raw.to_feather(src)
    result = run(
        "data",
        "import",
        str(src),
        "--data-dir",
        str(tmp_path / "d"),
        "--exchange",
        "binance",
        "--symbol",
        "ETH/USDT:USDT",
        "--series",
        "funding",
        "--kind",
        "linear",
    )
    assert result.exit_code == 0, result.output
    frame, _ = Store(tmp_path / "d").read(SeriesKey("binance", "ETH/USDT:USDT", "funding"))
    assert frame["funding_rate"].tolist() == [1e-4, 2e-4, 3e-4]


def test_data_import_candles_without_timeframe_is_exit_2(tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2023-01-01,1,1,1,1,1\n")
    result = run(
        "data",
        "import",
        str(csv),
        "--data-dir",
        str(tmp_path),
        "--exchange",
        "binance",
        "--symbol",
        "ETH/USDT",
        "--series",
        "ohlcv",
    )
    assert result.exit_code == 2
    assert result.output == (
        "error: --timeframe: series 'ohlcv' needs the bar length, e.g. --timeframe 1h\n"
    )


def test_data_import_freqtrade_mark_takes_timeframe_and_kind_from_names(tmp_path):
    o = np.array([100.0, 101.0, 102.0])
    raw = pd.DataFrame(
        {
            "date": pd.date_range("2023-01-01", periods=3, freq="1h", tz="UTC"),
            "open": o, "high": o + 1, "low": o - 1, "close": o, "volume": 0.0,
        }
    )  # fmt: skip
    src = tmp_path / "ETH_USD_ETH-1h-mark.feather"
    raw.to_feather(src)
    args = ["--exchange", "binance", "--symbol", "ETH/USD:ETH", "--series", "mark"]
    result = run("data", "import", str(src), "--data-dir", str(tmp_path / "d"), *args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:] == [
        "note: timeframe 1h taken from the file name (--timeframe to change)",
        "note: ETH/USD:ETH recorded as inverse (from the symbol; --kind to change)",
        "note: no --contract-size given; a run hedging with it must set "
        "hedge.legs[i].contract_size (USD per contract)",
    ]
    store = Store(tmp_path / "d")
    key = SeriesKey("binance", "ETH/USD:ETH", "mark", "1h")
    assert store.read_meta(key)["kind"] == "inverse"
    assert store.read(key)[0]["close"].tolist() == [100.0, 101.0, 102.0]
    # a linear symbol, an explicit contract size: no guessing notes beyond the kind
    args = ["--exchange", "binance", "--symbol", "ETH/USDT:USDT", "--series", "mark"]
    result = run("data", "import", str(src), "--data-dir", str(tmp_path / "d"), *args,
                 "--contract-size", "0.001")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "recorded as linear" in result.output and "contract-size" not in result.output


def test_data_check_passes_on_bundled_data():
    result = run("data", "check", "--data-dir", str(REPO / "data"))
    assert result.exit_code == 0, result.output
    assert result.output.count("OK   ") >= 41


def test_misnamed_parquet_files_are_named_not_silently_skipped(tmp_path):
    store = seed(tmp_path)
    good = store.path(SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"))
    (tmp_path / "binance" / "futures").mkdir()
    wrong_folder = tmp_path / "binance" / "futures" / good.name
    wrong_folder.write_bytes(good.read_bytes())
    wrong_name = good.parent / "ETH_USDT-1h.parquet"  # freqtrade's name, no series
    wrong_name.write_bytes(good.read_bytes())
    (good.parent / ".ETH_USDT-1h-ohlcv.parquet.abc.tmp").write_bytes(b"")  # a temp write
    assert store.unrecognised_files() == [wrong_folder, wrong_name]
    tail = (
        ": not <exchange>/<spot|swap>/<SYMBOL>-<timeframe>-<series>.parquet or "
        "<SYMBOL>-funding.parquet (docs/data.md)"
    )
    for command in ("list", "check"):
        result = run("data", command, "--data-dir", str(tmp_path))
        assert f"ignored {wrong_folder}{tail}\n" in result.output
        assert f"ignored {wrong_name}{tail}\n" in result.output
    # reported, not failed: the store itself is valid
    assert run("data", "check", "--data-dir", str(tmp_path)).exit_code == 0


def test_import_never_replaces_a_stored_series_without_being_told(tmp_path):
    store = seed(tmp_path)
    key = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
    before = store.path(key).read_bytes()
    csv = tmp_path / "new.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2023-01-01 07:00,20,21,19,20,1\n")
    args = ["data", "import", str(csv), "--data-dir", str(tmp_path), "--exchange", "binance",
            "--symbol", "ETH/USDT", "--series", "ohlcv", "--timeframe", "1h"]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 2
    assert result.output == (
        f"error: data import: {store.path(key)} already exists; pass --merge to union the rows "
        "with it or --replace to overwrite it\n"
    )
    assert store.path(key).read_bytes() == before
    assert run(*args, "--merge").exit_code == 0
    assert len(store.read(key)[0]) == 6  # the 5 seeded bars and the new one
    assert run(*args, "--replace").exit_code == 0
    assert store.read(key)[0]["close"].tolist() == [20.0]
