"""`backtest download CONFIG` through the real config, runner and market layers (only the
exchange step is replaced): it asks for every series the run reads, over the config's period."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from perphedge.cli import download_cmd
from perphedge.cli.main import cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _dry(monkeypatch: pytest.MonkeyPatch, *args: str) -> list[tuple]:
    calls: list[tuple] = []

    def fake(exchange_id, store, requests, options):  # noqa: ANN001, ANN202
        calls.append((exchange_id, Path(store.root), list(requests)))
        return []

    monkeypatch.setattr(download_cmd, "_run_exchange", fake)
    res = CliRunner().invoke(cli, ["download", *args])
    assert res.exit_code == 0, res.output
    return calls


def test_download_a_config_lists_each_series_over_its_period(monkeypatch):
    ((exchange, root, reqs),) = _dry(monkeypatch, "configs/btc_spot_hedge.yaml")
    assert exchange == "binance" and root == (REPO / "data").resolve()
    got = [
        (r.symbol, r.series.value, None if r.timeframe is None else str(r.timeframe)) for r in reqs
    ]
    assert got == [
        ("BTC/USDT", "ohlcv", "8h"),
        ("BTC/USD:BTC", "mark", "8h"),
        ("BTC/USD:BTC", "ohlcv", "8h"),
        ("BTC/USD:BTC", "funding", None),
    ]
    assert {r.start for r in reqs} == {pd.Timestamp("2020-08-11", tz="UTC")}
    assert {r.end for r in reqs} == {pd.Timestamp("2025-04-28 08:00", tz="UTC")}


def test_download_a_config_into_another_store(monkeypatch, tmp_path):
    ((_, root, reqs),) = _dry(
        monkeypatch, "configs/eth_l1_basket.yaml", "--data-dir", str(tmp_path)
    )
    assert root == tmp_path
    assert [r.symbol for r in reqs][:6] == [
        "SOL/USDT", "AVAX/USDT", "ADA/USDT", "DOT/USDT", "NEAR/USDT", "ATOM/USDT"
    ]  # fmt: skip
    assert ("ETH/USD:ETH", "funding") in [(r.symbol, r.series.value) for r in reqs]
