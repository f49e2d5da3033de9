"""A run on missing data names the file and a `backtest download` command that the download
command's own parser accepts and that asks for exactly the missing series, over the run's period,
into the run's store (checked without the network: the exchange step is replaced)."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from perphedge.cli import download_cmd
from perphedge.cli.main import cli
from perphedge.domain import Series, Timeframe

REPO = Path(__file__).resolve().parents[2]
BASKET = REPO / "configs" / "eth_l1_basket.yaml"
MARKER = "fetch it with: "


def _store(tmp_path: Path, *, drop: str) -> Path:
    """A store with what a SOL basket hedged by the ETH inverse perp needs, less ``drop``."""
    files = [
        "binance/spot/SOL_USDT-1h-ohlcv.parquet",
        "binance/spot/ETH_USDT-1h-ohlcv.parquet",
        "binance/swap/ETH_USD_ETH-8h-ohlcv.parquet",
        "binance/swap/ETH_USD_ETH-funding.parquet",
    ]
    root = tmp_path / "my store"  # a space: the printed --data-dir must be quoted
    for rel in files:
        if rel != drop:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / "data" / rel, root / rel)
    return root


def _config(tmp_path: Path, root: Path, **edits: object) -> Path:
    raw = yaml.safe_load(BASKET.read_text())
    raw["period"] = {"start": "2023-02-01", "end": "2023-03-01T08:00:00Z"}
    raw["basket"]["coins"] = {"SOL": 1.0}
    raw["data"]["root"] = str(root)
    raw.update(edits)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _printed_command(tmp_path: Path, config: Path) -> list[str]:
    res = CliRunner().invoke(cli, ["run", str(config), "--quiet", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert MARKER in line, line
    command = line.split(MARKER, 1)[1].removesuffix(")")
    argv = shlex.split(command)
    assert argv[:2] == ["backtest", "download"]
    return argv


def _dry_download(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> list[tuple]:
    """Parse ``argv`` with the real download command; record what it would fetch."""
    calls: list[tuple] = []

    def fake(exchange_id, store, requests, options):  # noqa: ANN001, ANN202
        calls.append((exchange_id, Path(store.root), list(requests)))
        return []

    monkeypatch.setattr(download_cmd, "_run_exchange", fake)
    res = CliRunner().invoke(cli, argv[1:])
    assert res.exit_code == 0, res.output
    return calls


def test_missing_funding_file_prints_a_command_download_accepts(tmp_path, monkeypatch):
    root = _store(tmp_path, drop="binance/swap/ETH_USD_ETH-funding.parquet")
    argv = _printed_command(tmp_path, _config(tmp_path, root))
    assert argv[2:] == [
        "--exchange", "binance", "--symbol", "ETH/USD:ETH", "--series", "funding",
        "--since", "2023-02-01", "--until", "2023-03-01T08:00:00Z", "--data-dir", str(root),
    ]  # fmt: skip
    ((exchange, store_root, (req,)),) = _dry_download(monkeypatch, argv)
    assert exchange == "binance" and store_root == root
    assert (req.symbol, req.series, req.timeframe) == ("ETH/USD:ETH", Series.FUNDING, None)
    assert req.start == pd.Timestamp("2023-02-01", tz="UTC")
    assert req.end == pd.Timestamp("2023-03-01 08:00", tz="UTC")


def test_missing_candles_at_another_timeframe_name_the_file_and_timeframe(tmp_path, monkeypatch):
    root = _store(tmp_path, drop="")
    argv = _printed_command(tmp_path, _config(tmp_path, root, timeframe="15m"))
    ((_, store_root, (req,)),) = _dry_download(monkeypatch, argv)
    assert store_root == root
    assert (req.symbol, req.series, req.timeframe) == (
        "SOL/USDT",
        Series.OHLCV,
        Timeframe.parse("15m"),
    )
    assert req.start == pd.Timestamp("2023-02-01", tz="UTC")


def test_unknown_basket_coin_and_leg_print_download_commands(tmp_path, monkeypatch):
    root = _store(tmp_path, drop="")
    cfg = _config(tmp_path, root)
    raw = yaml.safe_load(cfg.read_text())
    raw["basket"]["coins"] = {"XRP": 1.0}
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    argv = _printed_command(tmp_path, cfg)
    ((_, _, (req,)),) = _dry_download(monkeypatch, argv)
    assert (req.symbol, req.series, req.timeframe) == (
        "XRP/USDT",
        Series.OHLCV,
        Timeframe.parse("1h"),
    )

    raw["basket"]["coins"] = {"SOL": 1.0}
    raw["hedge"]["legs"][0]["symbol"] = "SOL/USD:SOL"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    argv = _printed_command(tmp_path, cfg)
    ((_, store_root, reqs),) = _dry_download(monkeypatch, argv)
    assert store_root == root
    assert [(r.symbol, r.series) for r in reqs] == [
        ("SOL/USD:SOL", Series.MARK),
        ("SOL/USD:SOL", Series.FUNDING),
    ]
    assert reqs[0].end == pd.Timestamp("2023-03-01 08:00", tz="UTC")


def test_default_store_needs_no_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = _store(tmp_path, drop="binance/swap/ETH_USD_ETH-funding.parquet")
    root.rename(tmp_path / "data")
    argv = _printed_command(tmp_path, _config(tmp_path, Path("data")))
    assert "--data-dir" not in argv
    ((_, store_root, _),) = _dry_download(monkeypatch, argv)
    assert store_root == Path("data")
