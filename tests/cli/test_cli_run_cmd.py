"""`backtest run`, `report`, `compare` and `baseline` through the real click entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from perphedge.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
BASKET = REPO / "configs" / "eth_l1_basket.yaml"
SHORT = ["--start", "2023-01-01", "--end", "2023-02-01"]  # one month keeps these tests fast
NO_CHARTS = ["--set", "outputs.charts=false", "--set", "outputs.html=false"]  # saves ~1 s a run
RUN_FILES = (
    "config.resolved.yaml",
    "metrics.json",
    "timeseries.parquet",
    "trades.csv",
    "events.csv",
    "equity.png",
    "report.html",
)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # configs name data/ and strategies/ relative to the project


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*/*") if p.is_dir() and not p.is_symlink())


def test_run_writes_every_listed_file(tmp_path: Path) -> None:
    res = invoke("run", str(BASKET), *SHORT, "--out", str(tmp_path), "--quiet")
    assert res.exit_code == 0, res.output
    (run_dir,) = run_dirs(tmp_path)
    assert run_dir.parent.name == "eth_l1_basket"
    for name in RUN_FILES:
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert len(list(run_dir.glob("*.png"))) >= 5  # equity, ratio, margin, costs, attribution
    assert res.output.strip() == f"report: {run_dir / 'report.html'}"
    doc = json.loads((run_dir / "metrics.json").read_text())
    meta = doc["meta"]
    assert meta["overrides"] == {"period.start": "2023-01-01", "period.end": "2023-02-01"}
    assert meta["period"]["start"] == "2023-01-01T00:00:00Z"
    assert meta["period"]["end"] == "2023-02-01T00:00:00Z"
    assert meta["period"]["bars"] == 31 * 24
    assert "basket" in meta["counterfactual"] and meta["config_hash"] and meta["data_fingerprint"]
    resolved = yaml.safe_load((run_dir / "config.resolved.yaml").read_text())
    assert resolved["period"] == {"start": "2023-01-01T00:00:00Z", "end": "2023-02-01T00:00:00Z"}
    # the run id is the UTC time plus 8 hex of the config and data hash
    stamp, digest = run_dir.name.split("-")
    assert len(stamp) == 16 and stamp.endswith("Z") and len(digest) == 8


def test_run_prints_summary_and_json(tmp_path: Path) -> None:
    res = invoke("run", str(BASKET), *SHORT, "--out", str(tmp_path / "a"))
    assert res.exit_code == 0, res.output
    assert "report: " in res.output and "hedged" in res.output.lower()
    res = invoke(
        "run", str(BASKET), *SHORT, *NO_CHARTS, "--out", str(tmp_path / "b"), "--json", "--quiet"
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload["name"] == "eth_l1_basket"
    assert Path(payload["run_dir"]).is_dir()
    assert "hedged_total_return" in payload["metrics"]


def test_two_runs_give_identical_metrics_and_timeseries(tmp_path: Path) -> None:
    for out in ("one", "two"):
        res = invoke("run", str(BASKET), *SHORT, *NO_CHARTS, "--out", str(tmp_path / out), "-q")
        assert res.exit_code == 0, res.output
    (a,) = run_dirs(tmp_path / "one")
    (b,) = run_dirs(tmp_path / "two")
    for name in ("metrics.json", "timeseries.parquet", "trades.csv", "events.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_set_override_changes_the_run_and_is_recorded(tmp_path: Path) -> None:
    res = invoke(
        "run", str(BASKET), *SHORT, "--set", "policy.name=fixed", "--set", "policy.params={}",
        "--set", "hedge.ratio=0", *NO_CHARTS, "--out", str(tmp_path), "--json", "--quiet",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    meta = json.loads((Path(payload["run_dir"]) / "metrics.json").read_text())["meta"]
    assert meta["overrides"]["hedge.ratio"] == 0
    # no hedge: the hedged side is the basket less the (unused) collateral's costs; no perp trades
    assert payload["metrics"]["funding_net_usd"] == 0


def _bad_config(tmp_path: Path, edit) -> Path:  # noqa: ANN001 - a small local callable
    raw = yaml.safe_load(BASKET.read_text())
    raw["period"]["end"] = "2023-02-01"
    edit(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _del_coin(raw: dict) -> None:
    raw["basket"]["coins"]["SOL"] = 0.5


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["hedge"].update(ratoi=1),
            "error: hedge: unknown key 'ratoi' (did you mean 'ratio'?); allowed: ratio, sizing, legs",
        ),
        (
            lambda r: r.update(capital="ten thousand"),
            "error: capital: expected a number, got text 'ten thousand'",
        ),
        (
            lambda r: r["policy"].update(name="no_such_policy"),
            "error: policy.name: no strategy 'no_such_policy'",
        ),
        (
            lambda r: r["hedge"]["legs"][0].update(symbol="ETH/USD:ETHX"),
            "error: hedge.legs[0].symbol: no market 'ETH/USD:ETHX' in data/binance/swap; known: "
            "ADA/USD:ADA, ATOM/USD:ATOM, AVAX/USD:AVAX, BTC/USD:BTC, BTC/USDT:USDT, DOT/USD:DOT, "
            "ETH/USD:ETH, ETH/USDT:USDT, NEAR/USD:NEAR, SOL/USD:SOL",
        ),
        (
            lambda r: r["basket"]["coins"].update(XRP=r["basket"]["coins"].pop("ATOM")),
            "error: basket.coins.XRP: no market 'XRP/USDT' in data/binance/spot; known: ",
        ),
        (
            lambda r: r["period"].update(start="2024-07-01"),
            "error: period: start 2024-07-01T00:00:00Z must be before end 2023-02-01T00:00:00Z",
        ),
        (
            _del_coin,
            "error: basket.coins: weights sum to 1.33333; they must sum to 1 (tolerance 1e-06)",
        ),
        (
            lambda r: r["policy"]["params"].update(lookbak="30d"),
            "error: policy.params.lookbak: unknown parameter; allowed: lookback, max_ratio",
        ),
    ],
)
def test_bad_config_exits_2_with_one_line(tmp_path: Path, edit, message: str) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["run", str(_bad_config(tmp_path, edit)), "--quiet"])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "reports").exists()


def test_bad_set_and_missing_file_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["run", str(BASKET), "--set", "hedge.ratio"])
    assert res.exit_code == 2
    assert "invalid override 'hedge.ratio'; expected key=value" in res.output
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2
    assert "config file not found" in res.output


def test_report_rerenders_a_finished_run(tmp_path: Path) -> None:
    res = invoke("run", str(BASKET), *SHORT, *NO_CHARTS, "--out", str(tmp_path), "--quiet")
    assert res.exit_code == 0, res.output
    (run_dir,) = run_dirs(tmp_path)
    assert not (run_dir / "report.html").exists() and not (run_dir / "equity.png").exists()
    res = invoke("report", str(run_dir), "--quiet")
    assert res.exit_code == 0, res.output
    assert (run_dir / "report.html").is_file() and (run_dir / "equity.png").is_file()
    res = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "is not a finished run folder" in res.output


def test_compare_runs_and_configs(tmp_path: Path) -> None:
    res = invoke("run", str(BASKET), *SHORT, *NO_CHARTS, "--out", str(tmp_path / "runs"), "-q")
    assert res.exit_code == 0, res.output
    (run_dir,) = run_dirs(tmp_path / "runs")
    res = invoke(
        "compare", str(run_dir), str(BASKET), *("--set", "period.end=2023-02-01"),
        "--set", "hedge.ratio=0.5", "--out", str(tmp_path / "cmp"), "--quiet",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"eth_l1_basket/{run_dir.name}" in res.output
    assert (tmp_path / "cmp" / "compare_equity.png").is_file()


def test_baseline_check_fails_after_a_fee_change(tmp_path: Path) -> None:
    cfg = tmp_path / "short.yaml"
    raw = yaml.safe_load(BASKET.read_text())
    raw["name"] = "short_basket"
    raw["period"] = {"start": "2023-01-01", "end": "2023-02-01"}
    raw["data"]["root"] = str(REPO / "data")
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    bdir = tmp_path / "baselines"
    res = invoke("baseline", "save", str(cfg), "--dir", str(bdir))
    assert res.exit_code == 0, res.output
    saved = json.loads((bdir / "short_basket.json").read_text())
    assert saved["config"] == "short.yaml" and saved["tolerances"]["n_trades"]["rel"] == 0
    res = invoke("baseline", "check", "--dir", str(bdir))
    assert res.exit_code == 0, res.output
    assert "baselines ok" in res.output
    res = CliRunner().invoke(
        cli,
        [
            "baseline",
            "check",
            str(cfg),
            "--dir",
            str(bdir),
            "--set",
            "hedge.legs[0].taker_fee=0.002",
        ],
    )
    assert res.exit_code == 3, res.output
    assert "drift: short_basket: fees_usd was" in res.output
    assert "metric(s) drifted beyond tolerance in short_basket" in res.output
    # a temp copy with the fee changed fails the same way
    raw["hedge"]["legs"][0]["taker_fee"] = 0.001
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = CliRunner().invoke(cli, ["baseline", "check", "--dir", str(bdir)])
    assert res.exit_code == 3 and "fees_usd" in res.output
