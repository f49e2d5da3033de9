"""`backtest baseline check` says which configs it checked and how to accept a deliberate change."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from perphedge.cli.main import cli

REPO = Path(__file__).resolve().parents[2]


def test_check_lists_each_config_and_names_it_in_the_save_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = yaml.safe_load((REPO / "configs" / "eth_l1_fixed_half.yaml").read_text())
    raw["period"] = {"start": "2023-01-01", "end": "2023-01-08"}
    raw["data"]["root"] = str(REPO / "data")
    raw["outputs"] = {"charts": False, "html": False}
    (tmp_path / "cfg").mkdir()
    (tmp_path / "strategies").symlink_to(REPO / "strategies")  # the shipped policies
    cfg = tmp_path / "cfg" / "week.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = CliRunner().invoke(cli, ["baseline", "save", "cfg/week.yaml"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "saved baselines/eth_l1_fixed_half.json\n"

    res = CliRunner().invoke(cli, ["baseline", "check"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "ok    cfg/week.yaml\nbaselines ok (1 config(s))\n"

    res = CliRunner().invoke(cli, ["baseline", "check", "--set", "hedge.legs[0].taker_fee=0.002"])
    assert res.exit_code == 3, res.output
    err = res.stderr.splitlines()
    assert err[0].startswith("DRIFT cfg/week.yaml: ") and err[0].endswith(" metric(s) moved")
    assert any(line.startswith("drift: eth_l1_fixed_half: fees_usd was ") for line in err)
    assert err[-1].startswith("error: ") and err[-1].endswith(
        "if the change is intended, run: backtest baseline save cfg/week.yaml"
    )


def test_check_without_a_baseline_prints_the_save_command(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    cfg = "configs/eth_l1_basket.yaml"
    res = CliRunner().invoke(cli, ["baseline", "check", cfg, "--dir", str(tmp_path)])
    assert res.exit_code == 2
    assert res.stderr == (
        f"error: no baseline at {tmp_path / 'eth_l1_basket.json'}; create it with: "
        f"backtest baseline save {cfg} --dir {tmp_path}\n"
    )
