"""Importer round trips: CSV conventions (zones, offsets, units, close labels, order) and
freqtrade files (feather, json, parquet, funding in ``open``)."""

from __future__ import annotations

import json
from datetime import timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from perphedge.data.importers import (
    CsvSpec,
    Label,
    import_csv,
    import_freqtrade,
    parse_timezone,
    read_csv_frame,
    read_freqtrade_frame,
)
from perphedge.data.loader import load
from perphedge.data.store import SeriesKey, Store
from perphedge.errors import ConfigError, DataValidationError


def utc(*texts: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(list(texts), tz="UTC", name="timestamp").as_unit("ns")


def write_csv(path, header: str, rows: list[str], banner: str | None = None) -> None:
    lines = ([banner] if banner else []) + [header] + rows
    path.write_text("\n".join(lines) + "\n")


ROW = "{t},10,12,9,11,5"  # open, high, low, close, volume


def test_parse_timezone():
    assert parse_timezone("UTC") is timezone.utc
    assert parse_timezone("UTC+3") == timezone(timedelta(hours=3))
    assert parse_timezone("+05:30") == timezone(timedelta(hours=5, minutes=30))
    assert parse_timezone("GMT-5") == timezone(timedelta(hours=-5))
    assert str(parse_timezone("Europe/London")) == "Europe/London"
    with pytest.raises(ConfigError, match=r"^timezone: unknown timezone 'Mars/Olympus'"):
        parse_timezone("Mars/Olympus")


def test_csv_london_gmt_and_bst(tmp_path):
    f = tmp_path / "london.csv"
    # 8h bars given as London wall clock: winter = UTC, summer = UTC+1
    times = [
        "2023-01-15 00:00:00",
        "2023-01-15 08:00:00",
        "2023-07-01 01:00:00",
        "2023-07-01 09:00:00",
    ]
    write_csv(f, "time,open,high,low,close,volume", [ROW.format(t=t) for t in times])
    frame = read_csv_frame(f, "ohlcv", CsvSpec(time_column="time", timezone="Europe/London"), "8h")
    assert frame.index.equals(
        utc("2023-01-15 00:00", "2023-01-15 08:00", "2023-07-01 00:00", "2023-07-01 08:00")
    )
    assert frame["close"].tolist() == [11.0] * 4


def test_csv_london_dst_fallback_on_8h_grid(tmp_path):
    f = tmp_path / "fallback.csv"
    # 2023-10-29: 01:00 happens twice in London; on an 8h grid it must be 00:00 UTC (BST)
    times = ["2023-10-28 17:00", "2023-10-29 01:00", "2023-10-29 08:00", "2023-10-29 16:00"]
    write_csv(f, "time,funding", [f"{t},0.0001" for t in times])
    spec = CsvSpec(
        time_column="time", timezone="Europe/London", columns={"funding_rate": "funding"}
    )
    frame = read_csv_frame(f, "funding", spec)
    assert frame.index.equals(
        utc("2023-10-28 16:00", "2023-10-29 00:00", "2023-10-29 08:00", "2023-10-29 16:00")
    )


def test_csv_london_dst_fallback_hourly_repeat(tmp_path):
    f = tmp_path / "hourly.csv"
    times = ["2023-10-29 00:00", "2023-10-29 01:00", "2023-10-29 01:00", "2023-10-29 02:00"]
    write_csv(
        f,
        "time,open,high,low,close,volume",
        [f"{t},{i},{i + 1},{i},{i},1" for i, t in enumerate(times, start=1)],
    )
    frame = read_csv_frame(f, "ohlcv", CsvSpec(time_column="time", timezone="Europe/London"), "1h")
    # 00:00 BST = 23:00 UTC; first 01:00 = 00:00 UTC (BST); second 01:00 = 01:00 UTC (GMT)
    assert frame.index.equals(
        utc("2023-10-28 23:00", "2023-10-29 00:00", "2023-10-29 01:00", "2023-10-29 02:00")
    )
    assert frame["open"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_csv_london_nonexistent_time_is_an_error(tmp_path):
    f = tmp_path / "spring.csv"
    write_csv(f, "time,open,high,low,close,volume", [ROW.format(t="2023-03-26 01:30")])
    with pytest.raises(DataValidationError, match=r"time that does not exist in Europe/London"):
        read_csv_frame(f, "ohlcv", CsvSpec(time_column="time", timezone="Europe/London"), "1h")


def test_csv_utc_plus_3(tmp_path):
    f = tmp_path / "plus3.csv"
    write_csv(
        f,
        "Symbol,Date,Funding Rate",
        [
            "BTC-USDT,2020-01-01 03:00:00.000,-0.00012359",
            "BTC-USDT,2020-01-01 11:00:00.000,-0.00012383",
        ],
    )
    spec = CsvSpec(time_column="Date", timezone="UTC+3", columns={"funding_rate": "Funding Rate"})
    frame = read_csv_frame(f, "funding", spec)
    assert frame.index.equals(utc("2020-01-01 00:00", "2020-01-01 08:00"))
    assert frame["funding_rate"].tolist() == [-0.00012359, -0.00012383]


@pytest.mark.parametrize(
    ("unit", "value"),
    [
        ("s", 1672531200),
        ("ms", 1672531200000),
        ("us", 1672531200000000),
        ("ns", 1672531200000000000),
    ],
)
def test_csv_epoch_units(tmp_path, unit, value):
    f = tmp_path / f"{unit}.csv"
    hour = value // 1672531200 * 3600  # one hour in this unit
    write_csv(f, "t,open,high,low,close,volume", [ROW.format(t=value), ROW.format(t=value + hour)])
    frame = read_csv_frame(f, "ohlcv", CsvSpec(time_column="t", time_unit=unit), "1h")
    assert frame.index.equals(utc("2023-01-01 00:00", "2023-01-01 01:00"))


def test_csv_iso_strings_with_offset_keep_their_offset(tmp_path):
    f = tmp_path / "iso.csv"
    write_csv(
        f,
        "timestamp,open,high,low,close,volume",
        [ROW.format(t="2023-01-01T03:00:00+03:00"), ROW.format(t="2023-01-01T01:00:00Z")],
    )
    frame = read_csv_frame(f, "ohlcv", CsvSpec(timezone="Europe/London"), "1h")
    assert frame.index.equals(utc("2023-01-01 00:00", "2023-01-01 01:00"))


def test_csv_close_labels_banner_newest_first_and_mapping(tmp_path):
    f = tmp_path / "fpc.csv"
    # FrancyPengChoco style: Timestamp is the bar close; futures columns mapped; no volume
    write_csv(
        f,
        "Timestamp,Open_futures,High_futures,Low_futures,Close_futures,Funding Rate",
        [
            "2020-08-11 16:00:00,11752.2,11780.2,11350.9,11484.5,0.0001",
            "2020-08-11 08:00:00,11785.0,11785.0,11735.0,11751.4,0.0001",
        ],
        banner="https://example.invalid banner line",
    )
    cols = {
        "open": "Open_futures",
        "high": "High_futures",
        "low": "Low_futures",
        "close": "Close_futures",
        "volume": None,
    }
    spec = CsvSpec(time_column="Timestamp", columns=cols, label=Label.CLOSE, skiprows=1)
    frame = read_csv_frame(f, "ohlcv", spec, "8h")
    assert frame.index.equals(utc("2020-08-11 00:00", "2020-08-11 08:00"))
    assert frame["open"].tolist() == [11785.0, 11752.2]
    assert frame["volume"].tolist() == [0.0, 0.0]
    funding = read_csv_frame(
        f, "funding", CsvSpec("Timestamp", {"funding_rate": "Funding Rate"}, skiprows=1)
    )
    assert funding.index.equals(utc("2020-08-11 08:00", "2020-08-11 16:00"))  # funding not shifted


def test_csv_filters_long_format(tmp_path):
    f = tmp_path / "long.csv"
    write_csv(
        f,
        "time,exchange,pair,open,high,low,close,volume",
        ["2023-01-01 00:00,binance,BTCUSDCM,1,2,1,1,1", "2023-01-01 00:00,okx,BTCUSDCM,5,6,5,5,1"],
    )
    spec = CsvSpec(time_column="time", filters={"exchange": "okx"})
    assert read_csv_frame(f, "ohlcv", spec, "8h")["open"].tolist() == [5.0]


def test_csv_conflicting_duplicates_error_and_exact_duplicates_dropped(tmp_path):
    f = tmp_path / "dups.csv"
    write_csv(
        f,
        "t,open,high,low,close,volume",
        [
            ROW.format(t="2023-01-01 00:00"),
            ROW.format(t="2023-01-01 00:00"),
            ROW.format(t="2023-01-01 01:00"),
        ],
    )
    assert len(read_csv_frame(f, "ohlcv", CsvSpec("t"), "1h")) == 2
    write_csv(
        f,
        "t,open,high,low,close,volume",
        [ROW.format(t="2023-01-01 00:00"), "2023-01-01 00:00,10,12,9,11.5,5"],
    )
    with pytest.raises(
        DataValidationError,
        match=r"dups\.csv lines 2, 3: 1 timestamp\(s\) with different values \(first at 2023-01-01 00:00 UTC\)$",
    ):
        read_csv_frame(f, "ohlcv", CsvSpec("t"), "1h")


def test_csv_missing_column_error(tmp_path):
    f = tmp_path / "x.csv"
    write_csv(f, "t,open,high,low,close", ["2023-01-01 00:00,1,2,1,1"])
    with pytest.raises(DataValidationError, match=r"column 'volume' for volume not found"):
        read_csv_frame(f, "ohlcv", CsvSpec("t"), "1h")


def test_import_csv_into_store_and_load(tmp_path):
    f = tmp_path / "plus3.csv"
    write_csv(
        f,
        "Date,Open,High,Low,Close,Volume",
        [ROW.format(t=f"2023-01-01 {h:02d}:00") for h in (3, 4, 5)],
    )
    store = Store(tmp_path / "data")
    key = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
    path = import_csv(store, key, f, CsvSpec("Date", timezone="UTC+3"), {"kind": None})
    loaded = load(store, "binance", "ETH/USDT", "ohlcv", "1h")
    assert loaded.path == path
    assert loaded.frame.index.equals(
        utc("2023-01-01 00:00", "2023-01-01 01:00", "2023-01-01 02:00")
    )
    assert loaded.meta["source"] == str(f)


def freqtrade_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex(["2023-01-01 00:00", "2023-01-01 01:00"], tz="UTC"),
            "open": [1.5, 2.5],
            "high": [2.0, 3.0],
            "low": [1.0, 2.0],
            "close": [1.75, 2.25],
            "volume": [10.0, 20.0],
        }
    )


@pytest.mark.parametrize("ext", ["feather", "parquet", "json"])
def test_freqtrade_round_trip(tmp_path, ext):
    raw = freqtrade_frame()
    path = tmp_path / f"ETH_USDT-1h.{ext}"
    if ext == "feather":
        raw.to_feather(path)
    elif ext == "parquet":
        raw.to_parquet(path)
    else:
        ms = (raw["date"] - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1)
        values = raw[["open", "high", "low", "close", "volume"]].to_numpy().tolist()
        rows = [[int(m), *r] for m, r in zip(ms, values, strict=True)]
        path.write_text(json.dumps(rows))
    frame = read_freqtrade_frame(path, "ohlcv")
    assert frame.index.equals(utc("2023-01-01 00:00", "2023-01-01 01:00"))
    assert frame["open"].tolist() == [1.5, 2.5]
    assert frame["close"].tolist() == [1.75, 2.25]
    assert frame["volume"].tolist() == [10.0, 20.0]
    store = Store(tmp_path / "data")
    key = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
    import_freqtrade(store, key, path)
    stored, _ = store.read(key)
    pd.testing.assert_frame_equal(stored, frame)


def test_freqtrade_json_floats_are_exact(tmp_path):
    path = tmp_path / "ATOM_USDT-1h.json"
    path.write_text("[[1589173200000,2.494,2.502,2.468,2.474,28470.158]]")
    frame = read_freqtrade_frame(path, "ohlcv")
    assert frame["open"].iloc[0] == 2.494
    assert frame.index[0] == pd.Timestamp("2020-05-11 05:00", tz="UTC")


def test_freqtrade_funding_rate_is_in_open(tmp_path):
    raw = pd.DataFrame(
        {
            "date": pd.DatetimeIndex(
                ["2023-01-01 00:00", "2023-01-01 08:00", "2023-01-01 16:00"], tz="UTC"
            ),
            "open": [0.0001, -0.00005, 0.0003],
            "high": 0.0,
            "low": 0.0,
            "close": 0.0,
            "volume": 0.0,
        }
    )
    path = tmp_path / "ETH_USDT_USDT-1h-funding_rate.feather"
    raw.to_feather(path)
    store = Store(tmp_path / "data")
    key = SeriesKey("binance", "ETH/USDT:USDT", "funding")
    import_freqtrade(store, key, path, {"kind": "linear"})
    loaded = load(store, "binance", "ETH/USDT:USDT", "funding")
    assert loaded.frame["funding_rate"].tolist() == [0.0001, -0.00005, 0.0003]
    assert loaded.frame["interval_hours"].tolist() == [8.0, 8.0, 8.0]
    assert loaded.meta["kind"] == "linear"


def test_freqtrade_unknown_extension(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"not a freqtrade file \(\.feather, \.json, \.parquet\)"):
        read_freqtrade_frame(path, "ohlcv")


def test_import_slices_window(tmp_path):
    raw = freqtrade_frame()
    path = tmp_path / "a.feather"
    raw.to_feather(path)
    store = Store(tmp_path / "data")
    key = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
    import_freqtrade(store, key, path, start="2023-01-01 01:00")
    frame, _ = store.read(key)
    assert frame["open"].tolist() == [2.5]
    assert np.isclose(frame["close"].iloc[0], 2.25)


def test_csv_errors_say_how_to_fix_them(tmp_path):
    f = tmp_path / "long.csv"
    write_csv(
        f,
        "time,exchange,pair,funding rate",
        [
            "2023-01-01 00:00,binance,ETHUSDCM,0.0001",
            "2023-01-01 00:00,okx,ETHUSDCM,0.0002",
            "2023-01-01 08:00,binance,ETHUSDCM,0.0003",
            "2023-01-01 08:00,okx,ETHUSDCM,0.0004",
        ],
    )
    cols = "(columns: time, exchange, pair, funding rate)"
    with pytest.raises(DataValidationError) as info:
        read_csv_frame(f, "funding", CsvSpec())
    assert str(info.value) == (
        f"{f}: time column 'timestamp' not found (did you mean 'time'?) {cols}; "
        "name it with --time-column"
    )
    with pytest.raises(DataValidationError) as info:
        read_csv_frame(f, "funding", CsvSpec("tme"))
    assert "time column 'tme' not found (did you mean 'time'?)" in str(info.value)
    with pytest.raises(DataValidationError) as info:
        read_csv_frame(f, "funding", CsvSpec("time"))
    assert str(info.value) == (
        f"{f}: column 'funding_rate' for funding_rate not found (did you mean 'funding rate'?) "
        f"{cols}; map it with --map funding_rate=COLUMN"
    )
    spec = CsvSpec("time", columns={"funding_rate": "funding rate"})
    with pytest.raises(DataValidationError) as info:
        read_csv_frame(f, "funding", spec)
    assert str(info.value) == (
        f"{f} lines 2, 3: 2 timestamp(s) with different values (first at 2023-01-01 00:00 UTC); the file "
        "holds several series: keep one with --where, e.g. --where exchange=binance (columns "
        "that differ: exchange)"
    )
    spec = CsvSpec("time", columns={"funding_rate": "funding rate"}, filters={"exchang": "okx"})
    with pytest.raises(DataValidationError) as info:
        read_csv_frame(f, "funding", spec)
    assert str(info.value) == (
        f"{f}: filter column 'exchang' not in the file (did you mean 'exchange'?) {cols}"
    )
    spec = CsvSpec("time", columns={"funding_rate": "funding rate"}, filters={"exchange": "okx"})
    assert read_csv_frame(f, "funding", spec)["funding_rate"].tolist() == [0.0002, 0.0004]
