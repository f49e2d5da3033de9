"""``backtest init``: a new project folder with the shipped configs, a template policy, the
sample store, reports/ and a README; never touching a user's existing file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.project import ProjectExistsError, init_project

REPO = Path(__file__).resolve().parents[2]
N_CONFIGS = len(list((REPO / "configs").glob("*.yaml")))
N_PARQUET = len(list((REPO / "data").glob("*/*/*.parquet")))


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_init_writes_a_complete_project(tmp_path):
    result = init_project(tmp_path / "myhedge")
    root = tmp_path / "myhedge"
    files = _files(root)
    assert {f"configs/{p.name}" for p in (REPO / "configs").glob("*.yaml")} <= files
    assert {
        "strategies/my_policy.py",
        "data/SOURCES.md",
        "data/binance/spot/ETH_USDT-1h-ohlcv.parquet",
        "reports/.gitkeep",
        "README.md",
        ".gitignore",
    } <= files
    # configs + template + SOURCES.md + parquet files + .gitkeep + README + .gitignore
    assert len(files) == N_CONFIGS + 1 + 1 + N_PARQUET + 3 == len(result.written)
    assert result.kept == ()
    assert result.count("configs") == N_CONFIGS and result.count("data") == N_PARQUET + 1
    same = "binance/swap/ETH_USD_ETH-funding.parquet"
    assert (root / "data" / same).read_bytes() == (REPO / "data" / same).read_bytes()
    assert (root / "configs/eth_l1_basket.yaml").read_text() == (
        REPO / "configs/eth_l1_basket.yaml"
    ).read_text()
    assert (root / ".gitignore").read_text() == "reports/*\n!reports/.gitkeep\n"


def test_init_refuses_a_non_empty_folder_in_one_line(tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    out = CliRunner().invoke(cli, ["init", str(target)])
    assert out.exit_code == 2
    assert out.output == (
        f"error: {target} is not empty; pick a new folder, or add --force to add the missing "
        "project files (existing files are kept unchanged, nothing is deleted)\n"
    )
    assert _files(target) == {"notes.txt"}


def test_init_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ProjectExistsError, match=r"f exists and is not a folder"):
        init_project(tmp_path / "f")


def test_force_adds_only_what_is_missing_and_keeps_every_user_file(tmp_path):
    root = tmp_path / "p"
    (root / "configs").mkdir(parents=True)
    mine = root / "configs" / "eth_l1_basket.yaml"
    mine.write_text("name: my_own\n")
    (root / "README.md").write_text("my readme")
    (root / "extra.txt").write_text("keep me")
    out = CliRunner().invoke(cli, ["init", str(root), "--force"])
    assert out.exit_code == 0, out.output
    assert "kept 2 existing file(s) unchanged" in out.output
    assert mine.read_text() == "name: my_own\n"
    assert (root / "README.md").read_text() == "my readme"
    assert (root / "extra.txt").read_text() == "keep me"
    assert (root / "configs" / "btc_spot_hedge.yaml").is_file()
    assert (root / "strategies" / "my_policy.py").is_file()
    # a second --force writes nothing and keeps everything
    again = init_project(root, force=True)
    assert again.written == ()
    assert len(again.kept) == N_CONFIGS + N_PARQUET + 5  # + README, template, SOURCES, 2 dotfiles


def test_cli_init_says_what_it_wrote_and_what_next(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(cli, ["init", "myhedge"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith(
        f"project myhedge/: {N_CONFIGS} configs, 1 policy template, {N_PARQUET + 1} data files"
    )
    assert lines[-1] == "next: cd myhedge && backtest run configs/eth_l1_basket.yaml"


def test_the_template_policy_runs_in_an_initialised_project(tmp_path, monkeypatch):
    """A config of the new project names the template; run from outside the project, it finds
    the project's data/ and strategies/, and the notes name the file."""
    from perphedge.runner import run

    init_project(tmp_path / "myhedge")
    raw = yaml.safe_load((tmp_path / "myhedge/configs/eth_l1_basket.yaml").read_text())
    raw["policy"] = {"name": "my_policy", "params": {"window": "1d", "calm_vol": 0.01}}
    raw["period"] = {"start": "2023-01-01", "end": "2023-02-01"}
    config = tmp_path / "myhedge/configs/mine.yaml"
    config.write_text(yaml.safe_dump(raw))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run(config)
    assert result.meta["notes"][-1] == "policy 'my_policy': myhedge/strategies/my_policy.py"
    assert result.metrics["n_rebalances"] > 0
