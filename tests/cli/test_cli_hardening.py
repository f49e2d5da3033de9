"""Commands either complete or leave everything as it was and say why in one line: hostile
arguments, --json errors, closed pipes, clean outputs (no machine paths, latest link, csv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.sizing_check import sizing_warnings

REPO = Path(__file__).resolve().parents[2]
BASKET = "configs/eth_l1_basket.yaml"
SHORT = ("--start", "2023-01-01", "--end", "2023-01-04")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def one_line(args: list[str], code: int = 2) -> str:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


# what a hostile user tried; each must be exit 2 with one line naming the problem
HOSTILE = [
    (
        ["run", BASKET, "--set", "rebalance.every=1000000000d"],
        "rebalance.every: 1000000000d is longer than the largest allowed, 3650d",
    ),  # was an internal error
    (
        ["run", BASKET, "--set", "timeframe=99999999999999d"],
        "is shorter than one 99999999999999d bar",
    ),
    (["run", BASKET, "--set", "=1"], "invalid override path"),
    (["run", BASKET, "--set", "hedge.legs[99].kind=linear"], "hedge.legs[99]: index out of range"),
    (["run", BASKET, "--set", "capital=[1,2]"], "capital: expected a number"),
    (
        ["run", BASKET, "--set", "policy.params={a: *x}"],
        "policy.params: expected a mapping, got text",
    ),
    (["run", BASKET, "--set", "capital=" + "9" * 400], "capital: expected a finite number"),
    (
        ["run", BASKET, "--start", "2023-01-05", "--end", "2023-01-01"],
        "period: start 2023-01-05T00:00:00Z must be before end",
    ),
    (["run", BASKET, "--end", "01/06/2023"], "period.end: expected an ISO 8601 date"),
    (["run", BASKET, "--start", "2023-13-01"], "period.start: expected an ISO 8601 date"),
    (["run", BASKET, "--start", "2023-01-01T00:00:01"], "not on the 1h bar grid"),
    (["run", "/dev/null"], "config file not found: /dev/null"),
    (["run", BASKET, "--set", "name=" + "x" * 300], "name: is 300 characters long; at most 64"),
    (["run", BASKET, "--set", "policy.name=../../x"], "policy.name: invalid policy name"),
    (["run", BASKET, "--set", "basket.coins={}"], "basket.coins"),
    (["report", BASKET], "no run folder configs/eth_l1_basket.yaml"),
    (["report", "/dev/null"], "no run folder /dev/null"),
    (["compare", "configs"], "configs/metrics.json not found"),
]


@pytest.mark.parametrize(("args", "fragment"), HOSTILE, ids=[" ".join(a)[:60] for a, _ in HOSTILE])
def test_hostile_arguments_are_one_line(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "out"
    if args[0] == "run":
        args = [*args, "--quiet", "--out", str(out)]
    assert fragment in one_line(args)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["run", BASKET, "--json", "--start", "06/01/2023"], "period.start: expected an ISO 8601"),
        (["run", "nope.yaml", "--json"], "config file not found: nope.yaml"),
        (["run", BASKET, "--json", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_json_errors_are_json_on_stdout(args: list[str], error: str) -> None:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    assert set(doc) == {"error", "exit_code"} and doc["exit_code"] == 2
    assert error in doc["error"] and "\n" not in doc["error"]
    assert res.stderr == ""


def test_a_closed_pipe_ends_quietly_with_exit_0() -> None:
    exe = Path(sys.executable).with_name("backtest")
    proc = subprocess.Popen(
        [str(exe), "data", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO
    )
    proc.stdout.close()  # the reader is gone before the first line is written (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert err == ""


def test_baseline_save_with_a_date_override_writes_iso_text(tmp_path: Path) -> None:
    args = ["baseline", "save", BASKET, "--set", "period.start=2023-02-01"]
    args += ["--set", "period.end=2023-02-03", "--dir", str(tmp_path / "b")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "b" / "eth_l1_basket.json").read_text())
    assert doc["overrides"] == {"period.start": "2023-02-01", "period.end": "2023-02-03"}
    assert doc["config"] == "configs/eth_l1_basket.yaml" or not doc["config"].startswith("/")


def test_baseline_save_into_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    args = ["baseline", "save", BASKET, *("--set", "period.end=2023-01-03")]
    line = one_line([*args, "--dir", str(tmp_path / "f" / "b")])
    assert line.startswith(f"error: --dir: cannot write {tmp_path / 'f' / 'b'}/eth_l1_basket.json")


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("csv")
    args = ["run", str(REPO / BASKET), *SHORT, "--set", "outputs.csv=true", "-q", "--out", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return out / "eth_l1_basket"


def test_outputs_csv_writes_the_timeseries_for_a_spreadsheet(csv_run: Path) -> None:
    run_dir = csv_run / "latest"
    frame = pd.read_csv(run_dir / "timeseries.csv")
    assert len(frame) == 3 * 24  # three days of hourly bars
    assert frame["timestamp"].iloc[0] == "2023-01-01T00:00:00Z"
    assert frame["timestamp"].iloc[-1] == "2023-01-03T23:00:00Z"
    parquet = pd.read_parquet(run_dir / "timeseries.parquet")
    assert np.allclose(frame["equity_hedged"], parquet["equity_hedged"], rtol=0, atol=1e-9)


def test_outputs_name_no_machine_path(csv_run: Path) -> None:
    run_dir = (csv_run / "latest").resolve()
    for path in run_dir.iterdir():
        if path.suffix in (".json", ".yaml", ".html", ".csv"):
            text = path.read_text(encoding="utf-8")
            for machine in (str(REPO), str(csv_run.parent), os.path.expanduser("~") + "/"):
                assert machine not in text, (path.name, machine)
    doc = json.loads((run_dir / "metrics.json").read_text())
    paths = [s["path"] for s in doc["meta"]["sources"]]
    assert "data/binance/spot/SOL_USDT-1h-ohlcv.parquet" in paths


def _series(contracts: list[float], target: list[float], actual: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {"contracts_0": contracts, "target_ratio_0": target, "actual_ratio_0": actual},
        index=pd.date_range("2023-01-01", periods=len(contracts), freq="h", tz="UTC"),
    )


def test_a_hedge_below_one_contract_is_warned() -> None:
    ts = _series([0, 0, 0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    assert sizing_warnings(ts, ["binance ETH/USD:ETH"]) == [
        "binance ETH/USD:ETH: the hedge could not be sized (the capital is below one contract); "
        "the run is unhedged"
    ]


def test_rounding_far_from_target_is_warned_and_small_rounding_is_not() -> None:
    # trades at bars 0 and 2: misses of 0.10 and 0.02 on a target of 1.0 -> 6.0 % on average
    ts = _series([-3, -3, -4], [1.0, 1.0, 1.0], [-0.90, -0.50, -0.98])
    (warning,) = sizing_warnings(ts, ["leg"])
    assert warning.startswith("leg: rounding to whole contracts left the hedge 6.0% from its")
    ts = _series([-30, -30, -31], [1.0, 1.0, 1.0], [-0.99, -0.50, -0.98])  # 1.5 %: quiet
    assert sizing_warnings(ts, ["leg"]) == []
    assert (
        sizing_warnings(_series([0, 0], [0.0, 0.0], [0.0, 0.0]), ["leg"]) == []
    )  # no hedge wanted


def test_a_comparison_whose_write_fails_leaves_no_folder(
    tmp_path: Path, csv_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import perphedge.report

    def half_then_full_disk(results, out_dir):
        (Path(out_dir) / "compare.csv").write_text("half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(perphedge.report, "compare_runs", half_then_full_disk)
    out = tmp_path / "cmp"
    line = one_line(["compare", str(csv_run / "latest"), "--out", str(out)])
    assert line == f"error: --out: cannot create {out}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_capital_below_one_contract_runs_with_a_warning(tmp_path: Path) -> None:
    args = ["run", BASKET, *SHORT, "--set", "capital=5", "--json", "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert (
        "binance ETH/USD:ETH: the hedge could not be sized (the capital is below one contract); "
        "the run is unhedged"
    ) in doc["warnings"]
