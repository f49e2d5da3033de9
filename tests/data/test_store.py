"""Store: layout, round trip with metadata, atomic writes, corrupt files, listing, merging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from perphedge.data import store as store_mod
from perphedge.data.store import SeriesKey, Store, parse_file_name
from perphedge.domain import MarketType, Series, Timeframe
from perphedge.errors import DataValidationError, MissingDataError


def candles(start: str = "2023-01-01", periods: int = 4, freq: str = "1h", base: float = 100.0):
    idx = pd.date_range(start, periods=periods, freq=freq, tz="UTC", name="timestamp")
    opens = base + np.arange(periods, dtype=float)
    return pd.DataFrame(
        {
            "open": opens,
            "high": opens + 2.0,
            "low": opens - 1.0,
            "close": opens + 1.0,
            "volume": np.full(periods, 10.0),
        },
        index=idx,
    )


ETH_SPOT = SeriesKey("binance", "ETH/USDT", Series.OHLCV, Timeframe.parse("1h"))
ETH_INV_FUNDING = SeriesKey("binance", "ETH/USD:ETH", Series.FUNDING)


def test_key_market_type_and_layout(tmp_path):
    store = Store(tmp_path)
    assert ETH_SPOT.market_type is MarketType.SPOT
    assert ETH_INV_FUNDING.market_type is MarketType.SWAP
    assert store.path(ETH_SPOT) == tmp_path / "binance/spot/ETH_USDT-1h-ohlcv.parquet"
    assert store.path(SeriesKey("binance", "ETH/USD:ETH", "ohlcv", "8h")) == (
        tmp_path / "binance/swap/ETH_USD_ETH-8h-ohlcv.parquet"
    )
    assert store.path(ETH_INV_FUNDING) == tmp_path / "binance/swap/ETH_USD_ETH-funding.parquet"
    assert store.path(SeriesKey("binance", "ETH/USDT:USDT", "mark", "1h")) == (
        tmp_path / "binance/swap/ETH_USDT_USDT-1h-mark.parquet"
    )


def test_key_coerces_strings_and_drops_funding_timeframe():
    key = SeriesKey("okx", "BTC/USD:BTC", "funding", "8h")
    assert key.series is Series.FUNDING
    assert key.timeframe is None
    assert SeriesKey("okx", "BTC/USDT", "ohlcv", "1h").timeframe == Timeframe(3_600_000)


def test_key_candles_need_timeframe():
    with pytest.raises(ValueError, match="series 'mark' needs a timeframe"):
        SeriesKey("binance", "ETH/USD:ETH", Series.MARK)


def test_write_read_round_trip_with_meta(tmp_path):
    store = Store(tmp_path)
    frame = candles()
    path = store.write(ETH_SPOT, frame, {"source": "unit test", "kind": None})
    assert path == store.path(ETH_SPOT)
    got, meta = store.read(ETH_SPOT)
    assert str(got.index.dtype) == "datetime64[ns, UTC]"
    assert got.index.name == "timestamp"
    assert list(got.columns) == ["open", "high", "low", "close", "volume"]
    assert all(str(t) == "float64" for t in got.dtypes)
    expected = frame.set_axis(frame.index.as_unit("ns"))
    pd.testing.assert_frame_equal(got, expected, check_freq=False)
    assert meta["exchange"] == "binance"
    assert meta["symbol"] == "ETH/USDT"
    assert meta["market_type"] == "spot"
    assert meta["series"] == "ohlcv"
    assert meta["timeframe"] == "1h"
    assert meta["source"] == "unit test"
    assert meta["library"] == "perphedge 0.1.0"
    assert meta["fetched_at"].endswith("Z")
    raw = json.loads(pq.read_schema(path).metadata[b"perphedge"])
    assert raw["symbol"] == "ETH/USDT"


def test_funding_interval_hours_read_from_the_data(tmp_path):
    store = Store(tmp_path)
    idx = pd.DatetimeIndex(
        [
            "2023-01-01 00:00",
            "2023-01-01 08:00",
            "2023-01-01 16:00",
            "2023-01-01 20:00",
            "2023-01-02 00:00",
        ],
        tz="UTC",
    )
    store.write(
        ETH_INV_FUNDING, pd.DataFrame({"funding_rate": [1e-4, 2e-4, -1e-4, 0.0, 3e-4]}, idx)
    )
    got, _ = store.read(ETH_INV_FUNDING)
    # first row takes the next gap (8 h); then 8, 8, 4, 4
    assert got["interval_hours"].tolist() == [8.0, 8.0, 8.0, 4.0, 4.0]
    assert got["funding_rate"].tolist() == [1e-4, 2e-4, -1e-4, 0.0, 3e-4]


def test_write_converts_other_timezones_to_utc(tmp_path):
    store = Store(tmp_path)
    frame = candles()
    frame.index = frame.index.tz_convert("Europe/Berlin")
    store.write(ETH_SPOT, frame)
    got, _ = store.read(ETH_SPOT)
    assert got.index[0] == pd.Timestamp("2023-01-01 00:00", tz="UTC")
    assert str(got.index.dtype) == "datetime64[ns, UTC]"


def test_write_refuses_naive_index(tmp_path):
    frame = candles()
    frame.index = frame.index.tz_localize(None)
    with pytest.raises(DataValidationError, match="timestamps must be tz-aware UTC"):
        Store(tmp_path).write(ETH_SPOT, frame)


def test_write_refuses_missing_column(tmp_path):
    with pytest.raises(DataValidationError, match=r"missing column\(s\) volume"):
        Store(tmp_path).write(ETH_SPOT, candles().drop(columns="volume"))


def _entries(folder):
    return sorted(p.name for p in folder.iterdir())


def test_crash_mid_write_leaves_old_file_intact(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.write(ETH_SPOT, candles(base=100.0))
    folder = store.path(ETH_SPOT).parent
    seen = {}

    def crash(src, dst):
        seen["tmp_size"] = os.path.getsize(src)  # the temp file was fully written
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(store_mod.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash before rename"):
        store.write(ETH_SPOT, candles(base=500.0))
    monkeypatch.undo()
    assert seen["tmp_size"] > 0
    assert _entries(folder) == ["ETH_USDT-1h-ohlcv.parquet"]  # no stray temp file
    got, _ = store.read(ETH_SPOT)
    assert got["open"].tolist() == [100.0, 101.0, 102.0, 103.0]


def test_crash_on_first_write_leaves_no_final_file(tmp_path, monkeypatch):
    store = Store(tmp_path)

    def crash(fd):
        raise OSError("simulated power cut at fsync")

    monkeypatch.setattr(store_mod.os, "fsync", crash)
    with pytest.raises(OSError, match="simulated power cut at fsync"):
        store.write(ETH_SPOT, candles())
    monkeypatch.undo()
    assert not store.exists(ETH_SPOT)
    assert _entries(store.path(ETH_SPOT).parent) == []
    assert store.keys() == []


def test_missing_file_names_path_and_download_command(tmp_path):
    key = SeriesKey("binance", "ETH/USD:ETH", "mark", "1h")
    store = Store(tmp_path)
    expected = (
        f"no data file {tmp_path}/binance/swap/ETH_USD_ETH-1h-mark.parquet; fetch it with: "
        "backtest download --exchange binance --symbol ETH/USD:ETH --series mark "
        f"--timeframe 1h --since 2024-02-01 --until 2024-03-01T08:00:00Z --data-dir {tmp_path}"
    )
    with pytest.raises(MissingDataError) as info:
        store.read(key, since="2024-02-01", until="2024-03-01 08:00")
    assert str(info.value) == expected
    assert info.value.key == key


def test_download_command_names_the_store_unless_it_is_the_default(tmp_path, monkeypatch):
    key = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
    monkeypatch.chdir(tmp_path)
    assert Store("data").cli_data_dir() is None
    assert Store(tmp_path / "data").cli_data_dir() is None
    assert Store("my data").cli_data_dir() == "my data"
    assert Store(tmp_path / "x" / "y").cli_data_dir() == "x/y"
    assert key.download_command("2023-01-01", None, "my data") == (
        "backtest download --exchange binance --symbol ETH/USDT --series ohlcv --timeframe 1h "
        "--since 2023-01-01 --data-dir 'my data'"
    )


def test_missing_funding_command_has_no_timeframe(tmp_path):
    with pytest.raises(MissingDataError, match=r"--series funding --since 2023-01-01 --data-dir"):
        Store(tmp_path).read(ETH_INV_FUNDING)


def test_truncated_parquet_gives_clear_error(tmp_path):
    store = Store(tmp_path)
    path = store.write(ETH_SPOT, candles(periods=200))
    path.write_bytes(path.read_bytes()[:300])
    msg = rf"^{path}: not a readable Parquet file \(.*\); delete it and fetch or import it again$"
    with pytest.raises(DataValidationError, match=msg):
        store.read(ETH_SPOT)
    with pytest.raises(DataValidationError, match=msg):
        store.read_meta(ETH_SPOT)


def test_garbage_file_gives_clear_error(tmp_path):
    store = Store(tmp_path)
    path = store.path(ETH_SPOT)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 this is not parquet at all " * 10)
    with pytest.raises(DataValidationError, match=r"not a readable Parquet file"):
        store.read(ETH_SPOT)


def test_keys_parse_file_names_and_skip_strays(tmp_path):
    store = Store(tmp_path)
    store.write(ETH_SPOT, candles())
    store.write(
        ETH_INV_FUNDING,
        pd.DataFrame(
            {"funding_rate": [1e-4, 1e-4]},
            pd.date_range("2023-01-01", periods=2, freq="8h", tz="UTC"),
        ),
    )
    # a user-dropped file without perphedge metadata, and junk that must be ignored
    plain = tmp_path / "okx/swap/BTC_USD_BTC-8h-mark.parquet"
    plain.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(candles(freq="8h")), plain)
    (tmp_path / "okx/swap/.BTC_USD_BTC-8h-mark.parquet.abc.tmp").write_bytes(b"x")
    (tmp_path / "okx/swap/notes.parquet").write_bytes(b"x")
    (tmp_path / "okx/swap/BTC_USD_BTC-8h-bogus.parquet").write_bytes(b"x")
    keys = store.keys()
    assert keys == [  # sorted by path: binance/spot < binance/swap < okx/swap
        ETH_SPOT,
        ETH_INV_FUNDING,
        SeriesKey("okx", "BTC/USD:BTC", Series.MARK, Timeframe.parse("8h")),
    ]
    frame, meta = store.read(keys[2])
    assert meta["source"] is None and meta["symbol"] == "BTC/USD:BTC"
    assert frame["open"].iloc[0] == 100.0


def test_parse_file_name():
    assert parse_file_name("binance", "swap", "ETH_USD_ETH-funding.parquet") == ETH_INV_FUNDING
    assert parse_file_name("binance", "spot", "ETH_USDT-1h-ohlcv.parquet") == ETH_SPOT
    assert (
        parse_file_name("binance", "spot", "ETH_USDT-funding.parquet") is None
    )  # spot: no funding
    assert parse_file_name("binance", "futures", "ETH_USDT-1h-ohlcv.parquet") is None


def test_merge_write_new_rows_win_and_meta_kept(tmp_path):
    store = Store(tmp_path)
    store.write(ETH_SPOT, candles("2023-01-01 00:00", 4, base=100.0), {"source": "first"})
    newer = candles("2023-01-01 02:00", 4, base=200.0)  # overlaps 02:00 and 03:00
    store.merge_write(ETH_SPOT, newer, {"kind": None})
    got, meta = store.read(ETH_SPOT)
    assert got.index.is_monotonic_increasing and got.index.is_unique
    assert len(got) == 6
    assert got["open"].tolist() == [100.0, 101.0, 200.0, 201.0, 202.0, 203.0]
    assert meta["source"] == "first"


def test_merge_write_prepends_head_and_recomputes_funding_intervals(tmp_path):
    store = Store(tmp_path)
    tail = pd.DataFrame(
        {"funding_rate": [1e-4, 1e-4]},
        pd.DatetimeIndex(["2023-01-02 00:00", "2023-01-02 04:00"], tz="UTC"),
    )
    store.write(ETH_INV_FUNDING, tail)
    head = pd.DataFrame(
        {"funding_rate": [5e-5, 5e-5]},
        pd.DatetimeIndex(["2023-01-01 08:00", "2023-01-01 16:00"], tz="UTC"),
    )
    store.merge_write(ETH_INV_FUNDING, head)
    got, _ = store.read(ETH_INV_FUNDING)
    assert got["funding_rate"].tolist() == [5e-5, 5e-5, 1e-4, 1e-4]
    assert got["interval_hours"].tolist() == [8.0, 8.0, 8.0, 4.0]


WRITER = """
import sys
import numpy as np
import pandas as pd
from perphedge.data.store import SeriesKey, Store

store = Store(sys.argv[1])
key = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
n = 50_000
idx = pd.date_range("2000-01-01", periods=n, freq="1h", tz="UTC")
i = 0
while True:
    value = float(i % 2 + 1)
    cols = ("open", "high", "low", "close", "volume")
    store.write(key, pd.DataFrame({c: np.full(n, value) for c in cols}, index=idx))
    i += 1
"""


def test_killed_writer_never_leaves_a_half_file(tmp_path):
    """SIGKILL a process that rewrites a file in a loop: the file is always a complete version."""
    store = Store(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not store.exists(ETH_SPOT) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.exists(ETH_SPOT), "writer never produced a file"
        time.sleep(0.3)  # let it rewrite a few times, then kill it mid-flight
    finally:
        proc.kill()
        proc.wait()
    frame, _ = store.read(ETH_SPOT)
    assert len(frame) == 50_000
    values = set(np.unique(frame.to_numpy()))
    assert values in ({1.0}, {2.0})
    assert store.keys() == [ETH_SPOT]  # a leftover temp file, if any, is not a store file
