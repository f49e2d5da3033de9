"""What `backtest run` prints for scripts (--json) and for people (help texts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from perphedge.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
BASKET = REPO / "configs" / "eth_l1_basket.yaml"
NO_CHARTS = ["--set", "outputs.charts=false", "--set", "outputs.html=false"]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def _strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_json_is_strict_json_with_null_for_nan_and_nothing_on_stderr(tmp_path: Path) -> None:
    # six hours: one day of returns at most, so volatility, Sharpe and Sortino are undefined
    args = ["run", str(BASKET), "--start", "2023-01-01", "--end", "2023-01-01T06:00:00Z"]
    res = CliRunner().invoke(cli, [*args, *NO_CHARTS, "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""  # no progress bars to break a script's log
    payload = _strict(res.stdout)
    assert payload["metrics"]["hedged_volatility"] is None
    assert payload["metrics"]["hedged_sharpe"] is None
    assert payload["metrics"]["n_rebalances"] == 1
    assert isinstance(payload["metrics"]["hedged_final_equity"], float)
    assert Path(payload["files"]["metrics"]).is_file()


COMMANDS = [
    [], ["run"], ["report"], ["compare"], ["sweep"], ["baseline"], ["baseline", "save"],
    ["baseline", "check"], ["download"], ["data"], ["data", "list"], ["data", "check"],
    ["data", "import"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "backtest")
def test_every_help_stands_on_its_own_with_an_example(command: list[str]) -> None:
    res = CliRunner().invoke(cli, [*command, "--help"], prog_name="backtest")
    assert res.exit_code == 0, res.output
    usage = " ".join(["backtest", *command])
    assert res.output.startswith(f"Usage: {usage} ")
    # an example: a full command line of this very command (or, for a group, one under it)
    examples = [ln.strip() for ln in res.output.splitlines() if ln.startswith("      backtest ")]
    assert any(ln.startswith(usage) for ln in examples), res.output
    assert "-h, --help" in res.output


def test_progress_bars_stay_out_of_a_piped_stderr(tmp_path: Path) -> None:
    """Bars are for terminals: a log or a pipe gets only the summary (stdout) and errors."""
    args = ["run", str(BASKET), "--start", "2023-01-01", "--end", "2023-01-03"]
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path)])  # stderr is not a tty here
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert res.stdout.splitlines()[0] == "eth_l1_basket (2023-01-01 to 2023-01-03, 1h)"
    res = CliRunner().invoke(cli, [*args, "--start", "2024-08-01", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert res.stderr == (
        "error: period: start 2024-08-01T00:00:00Z must be before end 2023-01-03T00:00:00Z\n"
    )


def test_a_quantities_basket_says_the_unhedged_side_keeps_the_coins(tmp_path: Path) -> None:
    cfg = REPO / "configs" / "btc_spot_hedge.yaml"
    args = ["run", str(cfg), "--end", "2020-09-01", *NO_CHARTS, "--out", str(tmp_path), "--json"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    meta = json.loads((Path(_strict(res.stdout)["run_dir"]) / "metrics.json").read_text())["meta"]
    assert meta["counterfactual"] == (
        f"The unhedged side holds the configured 5 BTC ({meta['capital']:,.2f} USD at the first "
        "bar's close), already owned (no purchase costs), and no short."
    )
    assert meta["capital"] == pytest.approx(5 * 11_750.0, rel=0.01)  # BTC near 11,750 USD
