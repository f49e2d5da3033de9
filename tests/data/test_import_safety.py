"""``backtest data import`` cannot misread time and never leaves a bad or partial store:
epochs by magnitude, impossible times, doubled funding events, merge conflicts, empty imports,
path escapes; every refused import leaves the store byte-for-byte as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.data.importers import CsvSpec, epoch_unit, read_csv_frame
from perphedge.data.store import SeriesKey, Store
from perphedge.errors import DataValidationError

REPO = Path(__file__).resolve().parents[2]
HEADER = "timestamp,open,high,low,close,volume"
T0 = 1_672_531_200  # 2023-01-01 00:00 UTC in seconds


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def snapshot(root: Path) -> dict[str, tuple[bytes, int, int]]:
    """Every file under ``root``: bytes, mtime (ns) and mode."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (path.read_bytes(), st.st_mtime_ns, st.st_mode)
    return out


def candle_csv(path: Path, times: list, closes: list[float] | None = None) -> Path:
    closes = closes or [100.0 + i for i in range(len(times))]
    rows = [f"{t},{c},{c + 2},{c - 1},{c},5" for t, c in zip(times, closes, strict=True)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def import_args(path: Path, store: Path, *extra: str) -> list[str]:
    return ["data", "import", path, "--data-dir", store, "--exchange", "binance",
            "--symbol", "ETH/USDT", "--series", "ohlcv", "--timeframe", "1h", *extra]  # fmt: skip


KEY = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")


@pytest.mark.parametrize(
    ("scale", "unit"), [(1, "s"), (1_000, "ms"), (1_000_000, "us"), (1_000_000_000, "ns")]
)
def test_epochs_are_read_by_magnitude(tmp_path, scale, unit):
    src = candle_csv(tmp_path / "e.csv", [(T0 + h * 3600) * scale for h in range(3)])
    result = run(*import_args(src, tmp_path / "d"))
    assert result.exit_code == 0, result.output
    frame, _ = Store(tmp_path / "d").read(KEY)
    assert frame.index.equals(
        pd.date_range("2023-01-01", periods=3, freq="1h", tz="UTC", name="timestamp")
    )
    assert epoch_unit(np.array([T0 * scale], dtype="float64")) == unit


def test_time_unit_option_overrides_magnitude(tmp_path):
    # 1672531200 read as ms is 1970-01-20: impossible, refused naming the line
    src = candle_csv(tmp_path / "e.csv", [T0, T0 + 3600])
    result = run(*import_args(src, tmp_path / "d", "--time-unit", "ms"))
    assert result.exit_code == 2
    assert result.output == (
        f"error: {src} line 2: impossible time 1970-01-20 08:35 UTC, before 2009-01-03 or after "
        "tomorrow (epochs read as ms; give --time-unit if that is wrong) (+1 more)\n"
    )
    assert not (tmp_path / "d").exists()


def test_mixed_epoch_units_are_refused(tmp_path):
    src = candle_csv(tmp_path / "e.csv", [T0 * 1000, T0 + 3600])
    with pytest.raises(DataValidationError, match=r"row 1 reads as ms, row 2 as s: 1672534800"):
        read_csv_frame(src, "ohlcv", CsvSpec(), "1h")


def test_pre_2009_and_future_times_name_the_line(tmp_path):
    src = candle_csv(tmp_path / "old.csv", ["2023-01-01 00:00", "2008-12-31 23:00"])
    result = run(*import_args(src, tmp_path / "d"))
    assert result.exit_code == 2
    assert result.output == (
        f"error: {src} line 3: impossible time 2008-12-31 23:00 UTC, before 2009-01-03 or after "
        "tomorrow\n"
    )
    future = (pd.Timestamp.now(tz="UTC").normalize() + pd.Timedelta(days=3)).strftime("%Y-%m-%d")
    src = candle_csv(tmp_path / "new.csv", [f"{future} 00:00"])
    result = run(*import_args(src, tmp_path / "d"))
    assert result.exit_code == 2
    assert f"line 2: impossible time {future} 00:00 UTC" in result.output


def test_funding_events_less_than_a_minute_apart_name_both_lines(tmp_path):
    src = tmp_path / "f.csv"
    src.write_text(
        "timestamp,fundingRate\n"
        "2023-01-01 00:00:00,0.0001\n"
        "2023-01-01 08:00:00,0.0002\n"
        "2023-01-01 08:00:30,0.0002\n"
    )
    args = ["data", "import", src, "--data-dir", tmp_path / "d", "--exchange", "binance",
            "--symbol", "ETH/USDT:USDT", "--series", "funding"]  # fmt: skip
    result = run(*args)
    assert result.exit_code == 2
    assert result.output == (
        f"error: {src} lines 3 and 4: funding events less than one minute apart "
        "(2023-01-01 08:00:00 and 2023-01-01 08:00:30 UTC); one event recorded twice?\n"
    )


def test_ccxt_column_names_map_without_map(tmp_path):
    src = tmp_path / "ccxt.csv"
    ms = [(T0 + h * 8 * 3600) * 1000 for h in range(3)]
    src.write_text(
        "symbol,fundingRate,timestamp,datetime,markPrice\n"
        + "".join(
            f"ETH/USDT:USDT,{r},{t},{pd.Timestamp(t, unit='ms'):%Y-%m-%dT%H:%M:%S}.000Z,{p}\n"
            for r, t, p in zip([1e-4, -5e-5, 2e-4], ms, [1200.5, 1210.0, 1190.25], strict=True)
        )
    )
    frame = read_csv_frame(src, "funding", CsvSpec())
    assert frame.index.equals(
        pd.date_range("2023-01-01", periods=3, freq="8h", tz="UTC", name="timestamp")
    )
    assert frame["funding_rate"].tolist() == [1e-4, -5e-5, 2e-4]
    assert frame["mark_price"].tolist() == [1200.5, 1210.0, 1190.25]
    only_ts = tmp_path / "ts.csv"
    only_ts.write_text("fundingTimestamp,fundingRate\n1672531200000,0.0001\n")
    assert read_csv_frame(only_ts, "funding", CsvSpec())["funding_rate"].tolist() == [1e-4]


def test_thousands_separator_and_text_are_refused_naming_the_line(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text(
        f'{HEADER}\n2023-01-01 00:00,100,102,99,101,5\n2023-01-01 01:00,"1,234",1300,1200,1250,5\n'
    )
    result = run(*import_args(src, tmp_path / "d"))
    assert result.exit_code == 2
    assert result.output == (
        f"error: {src} line 3: open is not a number: '1,234' (a thousands separator? remove it)\n"
    )


@pytest.fixture
def bundled_copy(tmp_path) -> Path:
    """A copy of two bundled files (a store the user cares about)."""
    root = tmp_path / "store"
    for rel in (
        "binance/spot/ETH_USDT-1h-ohlcv.parquet",
        "binance/swap/ETH_USD_ETH-funding.parquet",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / "data" / rel, root / rel)
    return root


BAD_ROWS = {
    "nan": ["2023-01-01 00:00,100,102,99,101,5", "2023-01-01 01:00,100,,99,101,5"],
    "text": ["2023-01-01 00:00,100,102,99,101,5", "2023-01-01 01:00,n/a,102,99,101,5"],
    "negative": ["2023-01-01 00:00,-100,102,-101,101,5"],
    "ohlc": ["2023-01-01 00:00,100,99,98,101,5"],
    "off_grid": ["2023-01-01 00:30,100,102,99,101,5"],
    "thousands": ['2023-01-01 00:00,"1,100",1102,1099,1101,5'],
    "epoch_ms_as_s": ["1672531200000,100,102,99,101,5"],
    "pre_2009": ["2001-01-01 00:00,100,102,99,101,5"],
    "conflicting_dup": ["2023-01-01 00:00,100,102,99,101,5", "2023-01-01 00:00,100,102,99,100,5"],
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
@pytest.mark.parametrize("how", ["--merge", "--replace"])
def test_refused_import_leaves_the_bundled_store_byte_identical(bundled_copy, tmp_path, case, how):
    src = tmp_path / f"{case}.csv"
    src.write_text("\n".join([HEADER, *BAD_ROWS[case]]) + "\n")
    extra = ["--time-unit", "s"] if case == "epoch_ms_as_s" else []
    before = snapshot(bundled_copy)
    result = run(*import_args(src, bundled_copy, how, *extra))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert snapshot(bundled_copy) == before


def test_merge_counts_added_and_differing_and_refuses_differences(bundled_copy, tmp_path):
    store = Store(bundled_copy)
    stored, _ = store.read(KEY)
    last = stored.index[-1]
    c_last = float(stored["close"].iloc[-1])
    rows = [
        # the stored last bar with a different close, then two new bars
        f"{last:%Y-%m-%d %H:%M},{stored['open'].iloc[-1]},{stored['high'].iloc[-1] + 500},"
        f"{stored['low'].iloc[-1]},{c_last + 1},{stored['volume'].iloc[-1]}",
        f"{last + pd.Timedelta(hours=1):%Y-%m-%d %H:%M},10,12,9,11,5",
        f"{last + pd.Timedelta(hours=2):%Y-%m-%d %H:%M},11,13,10,12,5",
    ]
    src = tmp_path / "m.csv"
    src.write_text("\n".join([HEADER, *rows]) + "\n")
    before = snapshot(bundled_copy)
    result = run(*import_args(src, bundled_copy, "--merge"))
    assert result.exit_code == 2
    assert result.output == (
        f"error: {src} into {store.path(KEY)}: 1 stored row(s) differ from the imported ones "
        f"(first at {last:%Y-%m-%d %H:%M} UTC: high {stored['high'].iloc[-1]:g} stored, "
        f"{stored['high'].iloc[-1] + 500:g} imported); 2 row(s) would be added; pass --prefer "
        "new or --prefer old to choose, or --replace to overwrite the file\n"
    )
    assert snapshot(bundled_copy) == before

    result = run(*import_args(src, bundled_copy, "--merge", "--prefer", "old"))
    assert result.exit_code == 0, result.output
    n = len(stored) + 2
    assert result.output.splitlines()[0].endswith(
        "(binance ETH/USDT ohlcv 1h; merged: 2 added, 1 differing (old values kept), 0 unchanged)"
    )
    after, _ = store.read(KEY)
    assert len(after) == n
    assert after["close"].iloc[-3] == c_last and after["close"].iloc[-1] == 12.0

    result = run(*import_args(src, bundled_copy, "--prefer", "new"))  # --prefer implies merge
    assert result.exit_code == 0, result.output
    assert "merged: 0 added, 1 differing (new values kept), 2 unchanged" in result.output
    after, _ = store.read(KEY)
    assert len(after) == n and after["close"].iloc[-3] == c_last + 1

    result = run(*import_args(src, bundled_copy, "--replace"))
    assert result.exit_code == 0, result.output
    assert "(binance ETH/USDT ohlcv 1h; replaced)" in result.output
    assert store.read(KEY)[0]["close"].tolist() == [c_last + 1, 11.0, 12.0]


def test_merge_that_adds_nothing_leaves_the_file_alone(bundled_copy, tmp_path):
    store = Store(bundled_copy)
    stored, _ = store.read(KEY)
    first = stored.iloc[0]
    src = tmp_path / "same.csv"
    src.write_text(
        f"{HEADER}\n{stored.index[0]:%Y-%m-%d %H:%M},{first.open},{first.high},{first.low},"
        f"{first.close},{first.volume}\n"
    )
    before = snapshot(bundled_copy)
    result = run(*import_args(src, bundled_copy, "--merge"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"kept {store.path(KEY)}: ")
    assert "merged: 0 added, 0 differing, 1 unchanged" in result.output
    assert snapshot(bundled_copy) == before


@pytest.mark.parametrize(
    "window", [["--start", "2023-02-01", "--end", "2023-01-01"], ["--start", "2030-01-01"]]
)
def test_imports_that_produce_nothing_are_refused(tmp_path, window):
    src = candle_csv(tmp_path / "e.csv", ["2023-01-01 00:00", "2023-01-01 01:00"])
    result = run(*import_args(src, tmp_path / "d", *window))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {src}: no rows to import in [")
    assert result.output.endswith("); nothing written\n")
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--exchange", "..", "error: --exchange: invalid exchange id '..': use a ccxt id"),
        ("--exchange", ".", "error: --exchange: invalid exchange id '.': use a ccxt id"),
        ("--exchange", "a/b", "error: --exchange: invalid exchange id 'a/b': use a ccxt id"),
        ("--symbol", "../../../x/evil", "error: data import: invalid symbol '../../../x/evil'"),
        ("--symbol", "ETH/..", "error: data import: invalid symbol 'ETH/..'"),
    ],
)
def test_paths_from_arguments_cannot_leave_the_store(tmp_path, option, value, message):
    src = candle_csv(tmp_path / "e.csv", ["2023-01-01 00:00"])
    store = tmp_path / "work" / "d"
    store.mkdir(parents=True)
    args = import_args(src, store)
    args[args.index(option) + 1] = value
    result = run(*args)
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1
    assert [p for p in (tmp_path / "work").rglob("*") if p.is_file()] == []


def test_a_custom_venue_name_is_accepted(tmp_path):
    src = candle_csv(tmp_path / "e.csv", ["2023-01-01 00:00"])
    args = import_args(src, tmp_path / "d")
    args[args.index("--exchange") + 1] = "my_otc_desk"
    assert run(*args).exit_code == 0
    assert (tmp_path / "d/my_otc_desk/spot/ETH_USDT-1h-ohlcv.parquet").is_file()


def test_a_store_folder_that_links_outside_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    store = tmp_path / "d"
    store.mkdir()
    os.symlink(outside, store / "binance")
    src = candle_csv(tmp_path / "e.csv", ["2023-01-01 00:00"])
    result = run(*import_args(src, store))
    assert result.exit_code == 2
    assert "would leave the store" in result.output
    assert list(outside.rglob("*")) == []


def test_folder_where_a_file_is_expected_and_the_reverse(tmp_path):
    folder = tmp_path / "somewhere"
    folder.mkdir()
    result = run(*import_args(folder, tmp_path / "d"))
    assert result.exit_code == 2
    assert result.output == (
        f"error: data import: {folder} is a folder; a freqtrade data folder is imported alone, "
        "without --symbol/--series/--format csv (give files to import them as one series)\n"
    )
    src = candle_csv(tmp_path / "e.csv", ["2023-01-01 00:00"])
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("x")
    for args in (import_args(src, a_file), ["data", "check", "--data-dir", a_file]):
        result = run(*args)
        assert result.exit_code == 2
        assert result.output == f"error: --data-dir: {a_file} is a file, not a folder\n"


def test_glob_and_several_csv_files_make_one_series(tmp_path):
    jan = candle_csv(tmp_path / "ETHUSDT-1h-2023-01.csv", ["2023-01-31 22:00", "2023-01-31 23:00"])
    candle_csv(tmp_path / "ETHUSDT-1h-2023-02.csv", ["2023-02-01 00:00", "2023-02-01 01:00"],
               [102.0, 103.0])  # fmt: skip
    result = run(*import_args(tmp_path / "ETHUSDT-1h-2023-*.csv", tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"wrote {tmp_path / 'd/binance/spot/ETH_USDT-1h-ohlcv.parquet'}: 4 rows, "
        "2023-01-31 22:00 .. 2023-02-01 01:00 UTC (binance ETH/USDT ohlcv 1h; new file)"
    )
    assert Store(tmp_path / "d").read(KEY)[0]["close"].tolist() == [100.0, 101.0, 102.0, 103.0]
    # files that disagree on a time are refused, naming both
    clash = candle_csv(tmp_path / "clash.csv", ["2023-01-31 23:00"], [55.0])
    args = import_args(jan, tmp_path / "d2")
    args.insert(3, str(clash))
    result = run(*args)
    assert result.exit_code == 2
    assert result.output == (
        f"error: {jan} and {clash} disagree at 2023-01-31 23:00 UTC (1 time(s) with different "
        "values)\n"
    )
    assert run(*import_args(tmp_path / "nothing-*.csv", tmp_path / "d3")).output == (
        f"error: data import: no file matches {tmp_path / 'nothing-*.csv'}\n"
    )
