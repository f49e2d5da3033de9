"""load(): slicing [start, end), gap reports inside the slice, errors for bad or missing files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perphedge.data.loader import load
from perphedge.data.store import SeriesKey, Store
from perphedge.data.validate import Gap
from perphedge.errors import DataValidationError, MissingDataError


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def write_hours(store: Store, hours: list[int], day: str = "2023-01-01") -> None:
    idx = pd.DatetimeIndex([ts(day) + pd.Timedelta(hours=h) for h in hours])
    o = np.array([100.0 + h for h in hours])
    frame = pd.DataFrame(
        {"open": o, "high": o + 1, "low": o - 1, "close": o, "volume": np.ones(len(o))}, idx
    )
    store.write(SeriesKey("binance", "ETH/USDT", "ohlcv", "1h"), frame, {"source": "t"})


def test_load_slices_start_inclusive_end_exclusive(tmp_path):
    store = Store(tmp_path)
    write_hours(store, list(range(10)))
    loaded = load(
        store, "binance", "ETH/USDT", "ohlcv", "1h", "2023-01-01 02:00", "2023-01-01 05:00"
    )
    assert loaded.frame["open"].tolist() == [102.0, 103.0, 104.0]
    assert str(loaded.frame.index.dtype) == "datetime64[ns, UTC]"
    assert loaded.gaps == []
    assert loaded.path == tmp_path / "binance/spot/ETH_USDT-1h-ohlcv.parquet"
    assert loaded.key == SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
    assert loaded.meta["source"] == "t"


def test_load_reports_gaps_inside_slice_only(tmp_path):
    store = Store(tmp_path)
    write_hours(store, [0, 1, 2, 5, 6, 7, 8, 12, 13])  # gaps 03-04 (2 bars) and 09-11 (3 bars)
    whole = load(store, "binance", "ETH/USDT", "ohlcv", "1h")
    assert whole.gaps == [
        Gap(ts("2023-01-01 03:00"), ts("2023-01-01 05:00"), 2),
        Gap(ts("2023-01-01 09:00"), ts("2023-01-01 12:00"), 3),
    ]
    part = load(store, "binance", "ETH/USDT", "ohlcv", "1h", "2023-01-01 04:00", "2023-01-01 11:00")
    # the first gap is clipped to 04:00 (1 bar), the second to 11:00 (2 bars); nothing is filled
    assert part.gaps == [
        Gap(ts("2023-01-01 04:00"), ts("2023-01-01 05:00"), 1),
        Gap(ts("2023-01-01 09:00"), ts("2023-01-01 11:00"), 2),
    ]
    assert part.frame["open"].tolist() == [105.0, 106.0, 107.0, 108.0]


def test_load_reports_uncovered_head_and_tail(tmp_path):
    store = Store(tmp_path)
    write_hours(store, [3, 4, 5])
    loaded = load(
        store, "binance", "ETH/USDT", "ohlcv", "1h", "2023-01-01 00:00", "2023-01-01 08:00"
    )
    assert loaded.gaps == [
        Gap(ts("2023-01-01 00:00"), ts("2023-01-01 03:00"), 3),
        Gap(ts("2023-01-01 06:00"), ts("2023-01-01 08:00"), 2),
    ]


def test_load_missing_file_names_command_with_start(tmp_path):
    with pytest.raises(MissingDataError) as info:
        load(Store(tmp_path), "binance", "ETH/USD:ETH", "mark", "1h", start="2023-03-05 12:00")
    assert str(info.value) == (
        f"no data file {tmp_path}/binance/swap/ETH_USD_ETH-1h-mark.parquet; fetch it with: "
        "backtest download --exchange binance --symbol ETH/USD:ETH --series mark --timeframe 1h "
        f"--since 2023-03-05T12:00:00Z --data-dir {tmp_path}"
    )


def test_load_duplicate_rows_in_file(tmp_path):
    store = Store(tmp_path)
    idx = pd.DatetimeIndex([ts("2023-01-01 00:00"), ts("2023-01-01 00:00")])
    store.write(
        SeriesKey("binance", "ETH/USD:ETH", "funding"),
        pd.DataFrame({"funding_rate": [1e-4, 2e-4]}, idx),
    )
    path = tmp_path / "binance/swap/ETH_USD_ETH-funding.parquet"
    with pytest.raises(
        DataValidationError,
        match=rf"^{path}: 1 duplicate timestamp\(s\) \(first at 2023-01-01 00:00 UTC\)$",
    ):
        load(store, "binance", "ETH/USD:ETH", "funding")


def test_load_corrupt_file(tmp_path):
    store = Store(tmp_path)
    write_hours(store, [0, 1, 2])
    path = tmp_path / "binance/spot/ETH_USDT-1h-ohlcv.parquet"
    path.write_bytes(path.read_bytes()[:-40])  # lose the footer
    with pytest.raises(DataValidationError, match=rf"^{path}: not a readable Parquet file"):
        load(store, "binance", "ETH/USDT", "ohlcv", "1h")


def test_load_funding_keeps_intervals_from_whole_file(tmp_path):
    store = Store(tmp_path)
    idx = pd.DatetimeIndex(
        [ts("2023-01-01 00:00") + pd.Timedelta(hours=h) for h in (0, 8, 16, 20, 24)]
    )
    store.write(
        SeriesKey("binance", "BTC/USD:BTC", "funding"),
        pd.DataFrame({"funding_rate": [1e-4] * 5}, idx),
    )
    loaded = load(store, "binance", "BTC/USD:BTC", "funding", start="2023-01-01 16:00")
    assert loaded.frame["interval_hours"].tolist() == [8.0, 4.0, 4.0]
    assert loaded.gaps == []
