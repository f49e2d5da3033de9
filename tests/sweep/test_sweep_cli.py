"""`backtest sweep` through the real click entry point: files, ranking, errors, and agreement
with the Python API and with `backtest run` on a combination's written config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import perphedge
from perphedge.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
BASE = str(ROOT / "configs" / "eth_l1_basket.yaml")


def _write(tmp_path: Path, grid: dict, name: str = "tiny", **section) -> Path:
    doc = {
        "base": BASE,
        "set": {"period.start": "2023-01-01", "period.end": "2023-01-15"},
        "sweep": {"grid": grid, **section},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


GRID = {"hedge.ratio": [0.5, 1.0], "rebalance.every": ["8h", "1d"], "hedge.legs[0].kind": ["inverse", "linear"]}  # fmt: skip


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep_cli")
    path = _write(tmp, GRID, top=3)
    result = _invoke("sweep", str(path), "--out", str(tmp / "out"), "--workers", "2")
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (tmp / "out" / "tiny").iterdir() if p.name != "latest"]
    return path, folder, result


def test_writes_every_output(cli_run):
    _, folder, _ = cli_run
    for name in (
        "results.parquet",
        "results.csv",
        "ranked.txt",
        "equity_daily.parquet",
        "heatmap.png",
        "risk_return.png",
        "equity_overlay.png",
        "report.html",
        "sweep.resolved.yaml",
        "meta.json",
    ):
        assert (folder / name).stat().st_size > 0, name
    assert sorted(p.name for p in (folder / "configs").iterdir()) == [
        f"c000{i}.yaml" for i in range(8)
    ]
    for png in ("heatmap.png", "risk_return.png", "equity_overlay.png"):
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (folder / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["combinations"] == 8 and meta["status"] == {"ok": 8}
    assert meta["executor"] == "processes" and meta["workers"] == 2


def test_terminal_table_is_ranked(cli_run):
    _, folder, result = cli_run
    table = pd.read_parquet(folder / "results.parquet")
    best = table.sort_values("hedged_sharpe", ascending=False).iloc[0]
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "Ranked by Sharpe (hedged) (hedged_sharpe, highest first); metrics of the hedged side"
    )
    first_row = next(line for line in lines if line.lstrip().startswith("1 "))
    assert first_row.split()[1] == best["combo_id"]
    assert "8 combinations: 8 ok, 0 error, 0 invalid" in result.stdout
    assert f"report: {folder / 'report.html'}" in result.stdout
    assert (folder / "ranked.txt").read_text().startswith("Ranked by Sharpe (hedged)")


def test_csv_and_parquet_hold_the_same_numbers(cli_run):
    _, folder, _ = cli_run
    pq = pd.read_parquet(folder / "results.parquet")
    csv = pd.read_csv(folder / "results.csv")
    assert list(csv.columns) == list(pq.columns)
    # floats written with full precision round-trip exactly
    np.testing.assert_array_equal(csv["hedged_sharpe"].to_numpy(), pq["hedged_sharpe"].to_numpy())
    assert list(csv["combo_id"]) == list(pq["combo_id"])


def test_api_and_cli_agree(cli_run):
    path, folder, _ = cli_run
    from_cli = pd.read_parquet(folder / "results.parquet")
    from_api = perphedge.sweep(path, serial=True)
    from_api = from_api.reset_index(drop=True)
    # through Parquet, str columns come back as the default string dtype either way
    pd.testing.assert_frame_equal(
        from_cli, pd.read_parquet(_roundtrip(from_api, folder.parent)), check_exact=True
    )
    # the grid given to the API replaces the file's grid; the rest is the base config
    # (rebalance.every 1d, inverse leg), which is the CLI's c0002 = (0.5, 1d, inverse)
    only = perphedge.sweep(path, grid={"hedge.ratio": [0.5]}, serial=True)
    row = from_cli.set_index("combo_id").loc["c0002"]
    assert (row["hedge.ratio"], row["rebalance.every"], row["hedge.legs[0].kind"]) == (
        0.5,
        "1d",
        "inverse",
    )
    assert list(only["combo_id"]) == ["c0000"]
    assert only["hedged_total_return"].iloc[0] == row["hedged_total_return"]


def _roundtrip(frame: pd.DataFrame, folder: Path) -> Path:
    out = folder / "api.parquet"
    frame.to_parquet(out, index=False)
    return out


def test_written_config_reruns_to_the_same_metrics(cli_run):
    _, folder, _ = cli_run
    table = pd.read_parquet(folder / "results.parquet").set_index("combo_id")
    result = perphedge.run(str(folder / "configs" / "c0005.yaml"))
    assert result.meta["name"] == "tiny-c0005"
    for key in ("hedged_total_return", "hedged_sharpe", "hedged_max_drawdown", "fees_usd"):
        assert result.metrics[key] == table.loc["c0005", key], key


def test_invalid_grid_key_exits_2_before_running(tmp_path):
    path = _write(tmp_path, {"hedge.ratio": [0.5], "rebalance.evry": ["1d"]})
    out = tmp_path / "out"
    result = _invoke("sweep", str(path), "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        "error: sweep.grid.rebalance.evry: value '1d': rebalance: unknown key 'evry' "
        "(did you mean 'every'?); allowed: every, band, min_trade_usd, rehedge_after_liquidation\n"
    )
    assert "Traceback" not in result.output
    assert not out.exists()


def test_rank_by_lower_is_better_metric(tmp_path):
    path = _write(tmp_path, {"hedge.ratio": [0.25, 0.5, 1.0]})
    out = tmp_path / "out"
    result = _invoke(
        "sweep", str(path), "--out", str(out), "--serial", "--rank-by", "hedged_volatility"
    )
    assert result.exit_code == 0, result.output
    assert "(hedged_volatility, lowest first)" in result.stdout
    (folder,) = [p for p in (out / "tiny").iterdir() if p.name != "latest"]
    table = pd.read_parquet(folder / "results.parquet")
    assert (
        table.loc[table["rank"] == 1, "hedged_volatility"].iloc[0]
        == table["hedged_volatility"].min()
    )
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["executor"] == "serial" and meta["rank_by"] == "hedged_volatility"


def test_quiet_prints_only_the_report_path(tmp_path):
    path = _write(tmp_path, {"hedge.ratio": [0.5]})
    result = _invoke("sweep", str(path), "--out", str(tmp_path / "o"), "--serial", "--quiet")
    assert result.exit_code == 0
    assert result.stdout.startswith("report: ") and len(result.stdout.splitlines()) == 1


def test_bad_scheduler_address_is_a_usage_error(tmp_path):
    path = _write(tmp_path, {"hedge.ratio": [0.5]})
    result = _invoke("sweep", str(path), "--scheduler", "localhost:8786")
    assert result.exit_code == 2
    assert "expected an address like tcp://HOST:PORT" in result.stderr


def test_all_failed_still_writes_the_table_and_exits_1(tmp_path):
    broken = {"policy.name": "funding_aware", "policy.params": {"reduced_ratio": -1.0}}
    path = _write(tmp_path, {"policy": {"broken": broken}, "hedge.ratio": [0.5, 1.0]})
    out = tmp_path / "out"
    result = _invoke("sweep", str(path), "--out", str(out), "--serial", "--quiet")
    assert result.exit_code == 1
    (folder,) = [p for p in (out / "tiny").iterdir() if p.name != "latest"]
    assert result.stderr == f"Error: all 2 combinations failed; see {folder / 'results.csv'}\n"
    table = pd.read_csv(folder / "results.csv")
    assert list(table["status"]) == ["error", "error"]
    assert list(table["error_type"]) == ["StrategyError", "StrategyError"]
