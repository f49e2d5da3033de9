"""The store keeps file modes, reads through one handle while a writer replaces the file, says
what a read error is; ``data check`` and the loader refuse damaged data and metadata."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.data import store as store_module
from perphedge.data.loader import load
from perphedge.data.store import META_KEY, SeriesKey, Store
from perphedge.errors import DataValidationError

CANDLES = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
FUNDING = SeriesKey("binance", "ETH/USD:ETH", "funding")


def bars(n: int = 4, start: str = "2023-01-01") -> pd.DataFrame:
    idx = pd.date_range(start, periods=n, freq="1h", tz="UTC")
    o = 100.0 + np.arange(n)
    return pd.DataFrame(
        {"open": o, "high": o + 2, "low": o - 1, "close": o + 1, "volume": 1.0}, idx
    )


def rates(values: list[float]) -> pd.DataFrame:
    idx = pd.date_range("2023-01-01", periods=len(values), freq="8h", tz="UTC")
    return pd.DataFrame({"funding_rate": values}, idx)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_follow_the_umask_and_rewrites_keep_the_mode(tmp_path):
    store = Store(tmp_path)
    old = os.umask(0o022)
    try:
        path = store.write(CANDLES, bars())
        assert mode(path) == 0o644  # not mkstemp's 0600
        os.umask(0o077)
        path.chmod(0o664)  # a shared, group-writable file
        store.merge_write(CANDLES, bars(2, "2023-01-01 04:00"))
        assert mode(path) == 0o664
        assert len(store.read(CANDLES)[0]) == 6
        other = store.write(SeriesKey("binance", "BTC/USDT", "ohlcv", "1h"), bars())
        assert mode(other) == 0o600  # a new file under umask 077
    finally:
        os.umask(old)


def test_cli_merge_keeps_a_world_readable_file_readable(tmp_path):
    store = Store(tmp_path)
    path = store.write(CANDLES, bars())
    path.chmod(0o644)
    src = tmp_path / "more.csv"
    src.write_text("timestamp,open,high,low,close,volume\n2023-01-01 04:00,104,106,103,105,1\n")
    result = CliRunner().invoke(cli, [
        "data", "import", str(src), "--data-dir", str(tmp_path), "--exchange", "binance",
        "--symbol", "ETH/USDT", "--series", "ohlcv", "--timeframe", "1h", "--merge",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert mode(path) == 0o644


WRITER = """
import sys, time
import numpy as np, pandas as pd
from perphedge.data.store import SeriesKey, Store
store = Store(sys.argv[1])
key = SeriesKey("binance", "ETH/USDT", "ohlcv", "1h")
deadline = time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < deadline:
    n = 200 + (i % 50)
    idx = pd.date_range("2023-01-01", periods=n, freq="1h", tz="UTC")
    o = np.full(n, 100.0 + i)
    store.write(key, pd.DataFrame(
        {"open": o, "high": o + 1, "low": o - 1, "close": o, "volume": 1.0}, idx))
    i += 1
print(i)
"""


def test_reads_never_see_half_a_file_while_a_writer_replaces_it(tmp_path):
    store = Store(tmp_path)
    first = bars(200)
    first[["open", "close"]] = 99.0
    first["high"], first["low"] = 100.0, 98.0
    store.write(CANDLES, first)
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), "4"],
        stdout=subprocess.PIPE,
        text=True,
    )
    reads = 0
    try:
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline and reads < 600:
            frame, meta = store.read(CANDLES)  # raises on a half-read
            assert meta["symbol"] == "ETH/USDT"
            assert 200 <= len(frame) < 250
            assert (frame["open"] == frame["open"].iloc[0]).all()  # one file, not two mixed
            reads += 1
    finally:
        out, _ = writer.communicate(timeout=30)
    assert writer.returncode == 0
    assert int(out) > 5  # the writer really replaced the file many times meanwhile
    assert reads >= 100


def test_unreadable_file_says_so_without_advising_deletion(tmp_path, monkeypatch):
    store = Store(tmp_path)
    path = store.write(CANDLES, bars())
    calls = []

    def denied(file, *args, **kwargs):  # what a 0600 file of another user gives
        calls.append(file)
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(store_module, "open", denied, raising=False)
    with pytest.raises(DataValidationError) as info:
        store.read(CANDLES)
    assert str(info.value) == f"{path}: cannot read the file (Permission denied)"
    assert len(calls) == 2  # tried once more before concluding


def test_a_read_that_fails_once_is_retried(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.write(CANDLES, bars())
    real_open = open
    calls = []

    def flaky(file, *args, **kwargs):  # the first open races a replace
        calls.append(file)
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(store_module, "open", flaky, raising=False)
    frame, _ = store.read(CANDLES)
    assert frame["close"].tolist() == [101.0, 102.0, 103.0, 104.0]
    assert len(calls) == 2


def test_corrupt_file_is_called_corrupt_after_a_second_try(tmp_path):
    store = Store(tmp_path)
    path = store.write(CANDLES, bars())
    path.write_bytes(b"PAR1 garbage")
    with pytest.raises(DataValidationError, match=r"not a readable Parquet file .*delete it"):
        store.read(CANDLES)


def rewrite_meta(path: Path, **changes: object) -> None:
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[META_KEY])
    meta.update(changes)
    schema_meta = {**table.schema.metadata, META_KEY: json.dumps(meta).encode()}
    pq.write_table(table.replace_schema_metadata(schema_meta), path)


def raw_write(path: Path, frame: pd.DataFrame) -> None:
    """Write a frame bypassing the store's normalisation (damaged data as found on disk)."""
    frame = frame.copy()
    frame.index.name = "timestamp"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=True), path)


DAMAGE = {
    "inf_high": "infinite high (1 rows, first at 2023-01-01 01:00 UTC)",
    "funding_500pct": "1 funding rate(s) beyond 3% per interval in size (first 5 at 2023-01-01 "
    "08:00 UTC)",
    "funding_x100": "3 funding rate(s) beyond 3% per interval in size (first 0.05 at 2023-01-01 "
    "00:00 UTC)",
    "inf_funding": "infinite funding_rate (1 rows, first at 2023-01-01 16:00 UTC)",
    "pre_2009": "1 impossible timestamp(s) (first 1970-01-01 00:00 UTC): before 2009-01-03 or "
    "after tomorrow",
    "future": "1 impossible timestamp(s) (first 2099-01-01 00:00 UTC)",
    "contract_size_text": "metadata contract_size must be a number, got 'ten'",
    "contract_size_negative": "metadata contract_size must be positive, got -10",
    "kind_bogus": "metadata kind must be inverse, linear or null, got 'coin'",
    "market_type_bogus": "metadata market_type must be spot or swap, got 'futures'",
    "series_mismatch": "metadata series must be 'funding', got 'ohlcv'",
}


def damage(store: Store, case: str) -> tuple[SeriesKey, Path]:
    """Write a file with one kind of damage; return its key and path."""
    if case == "inf_high":
        frame = bars()
        frame.iloc[1, frame.columns.get_loc("high")] = np.inf
        path = store.path(CANDLES)
        path.parent.mkdir(parents=True, exist_ok=True)
        raw_write(path, frame)
        return CANDLES, path
    if case in ("pre_2009", "future"):
        frame = bars(2)
        when = "1970-01-01" if case == "pre_2009" else "2099-01-01"
        frame.index = pd.DatetimeIndex([pd.Timestamp(when, tz="UTC"), frame.index[1]])
        path = store.path(CANDLES)
        path.parent.mkdir(parents=True, exist_ok=True)
        raw_write(path, frame.sort_index())
        return CANDLES, path
    values = {
        "funding_500pct": [1e-4, 5.0, 1e-4],
        "funding_x100": [0.05, 0.06, 0.07],
        "inf_funding": [1e-4, 1e-4, np.inf],
    }.get(case, [1e-4, 2e-4, 3e-4])
    path = store.path(FUNDING)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = rates(values)
    frame["interval_hours"] = 8.0
    raw_write(path, frame)
    store_meta = {
        "contract_size_text": {"contract_size": "ten"},
        "contract_size_negative": {"contract_size": -10},
        "kind_bogus": {"kind": "coin"},
        "market_type_bogus": {"market_type": "futures"},
        "series_mismatch": {"series": "ohlcv"},
    }.get(case)
    if store_meta is not None:
        table = pq.read_table(path)
        meta = {"exchange": "binance", "symbol": "ETH/USD:ETH", "market_type": "swap",
                "series": "funding", "timeframe": None, "kind": "inverse", **store_meta}  # fmt: skip
        pq.write_table(
            table.replace_schema_metadata({**table.schema.metadata, META_KEY: json.dumps(meta)}),
            path,
        )
    return FUNDING, path


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_data_check_and_the_loader_refuse_damaged_files(tmp_path, case):
    store = Store(tmp_path)
    key, path = damage(store, case)
    result = CliRunner().invoke(cli, ["data", "check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert f"FAIL {path}: " in result.output and DAMAGE[case] in result.output
    with pytest.raises(DataValidationError) as info:
        load(store, key.exchange, key.symbol, key.series, key.timeframe)
    assert str(info.value).startswith(f"{path}: ") and DAMAGE[case] in str(info.value)


def test_good_metadata_and_rates_at_the_cap_pass(tmp_path):
    store = Store(tmp_path)
    store.write(FUNDING, rates([0.03, -0.03, 0.0]), {"kind": "inverse", "contract_size": 10})
    result = CliRunner().invoke(cli, ["data", "check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("1 file(s) OK\n")


def test_a_run_refuses_a_store_that_data_check_refuses(tmp_path):
    """The shipped config on a copy of the bundled store with one funding rate of 500 %."""
    repo = Path(__file__).resolve().parents[2]
    root = tmp_path / "data"
    shutil.copytree(repo / "data", root)
    store = Store(root)
    frame, meta = store.read(FUNDING)
    frame.iloc[10, frame.columns.get_loc("funding_rate")] = 5.0
    store.write(FUNDING, frame, meta)
    path = store.path(FUNDING)
    result = CliRunner().invoke(
        cli,
        ["run", str(repo / "configs" / "eth_l1_basket.yaml"), "--set", f"data.root={root}",
         "--out", str(tmp_path / "reports"), "--quiet"],
    )  # fmt: skip
    assert result.exit_code in (2, 3), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ")
    assert "funding rate(s) beyond 3% per interval" in lines[0]
    assert not (tmp_path / "reports").exists()


def test_files_whose_folder_or_name_cannot_be_a_key_are_listed_as_ignored(tmp_path):
    store = Store(tmp_path)
    good = store.write(CANDLES, bars())
    odd_folder = tmp_path / "My-Venue" / "spot" / good.name
    odd_name = good.parent / "ETH-1h-ohlcv.parquet"  # no quote currency
    odd_folder.parent.mkdir(parents=True)
    for path in (odd_folder, odd_name):
        path.write_bytes(good.read_bytes())
    assert store.keys() == [CANDLES]
    assert store.unrecognised_files() == [odd_folder, odd_name]
    result = CliRunner().invoke(cli, ["data", "check", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"ignored {odd_folder}: " in result.output and f"ignored {odd_name}: " in result.output
