"""Bad inputs a newcomer makes: each is one clear line on stderr and exit 2 (a traceback only with
--debug), through the real click entry point."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from perphedge.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
BASKET = REPO / "configs" / "eth_l1_basket.yaml"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def one_line_error(args: list[str], code: int = 2) -> str:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    assert res.stdout == ""
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_typo_in_config_path_suggests_the_near_file() -> None:
    line = one_line_error(["run", "configs/eth_l1_baskt.yaml"])
    assert line == (
        "error: config file not found: configs/eth_l1_baskt.yaml; "
        "did you mean configs/eth_l1_basket.yaml?"
    )
    line = one_line_error(["run", "config/eth_l1_basket.yaml"])
    assert line == "error: config file not found: config/eth_l1_basket.yaml (no folder config)"
    assert one_line_error(["compare", "configs/nothing_like_it.yaml"]) == (
        "error: config file not found: configs/nothing_like_it.yaml"
    )
    assert "did you mean configs/eth_l1_basket.yaml?" in one_line_error(
        ["baseline", "save", "configs/eth_l1_baskt.yaml"]
    )


def test_folder_binary_empty_and_broken_yaml(tmp_path: Path) -> None:
    line = one_line_error(["run", "configs"])
    assert line.startswith("error: configs is a folder; give a YAML config file (it holds: ")
    binary = tmp_path / "x.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xf0\xff")
    assert one_line_error(["run", str(binary)]) == (
        f"error: {binary} is not a text file; a config is YAML text"
    )
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert one_line_error(["run", str(empty)]) == (
        f"error: {empty} is empty; a config needs at least name, period, basket and hedge "
        "(docs/config.md; copy one from configs/)"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nperiod: {start: 2023-01-01\n  end: [\n")
    assert one_line_error(["run", str(broken)]) == (
        f"error: {broken}: invalid YAML at line 3, column 6: expected ',' or '}}', but got ':'"
    )


def test_period_outside_the_data_and_unknown_set_key() -> None:
    line = one_line_error(["run", str(BASKET), "--start", "2019-01-01", "--end", "2019-06-01"])
    assert line.startswith(
        "error: binance SOL/USDT ohlcv 1h: no bars in the run window 2019-01-01 00:00 UTC .. "
        "2019-06-01 00:00 UTC; the file covers 2023-01-01 00:00 UTC .. 2024-06-30 23:00 UTC"
    )
    assert one_line_error(["run", str(BASKET), "--set", "hedge.nonexistent=1"]) == (
        "error: hedge: unknown key 'nonexistent'; allowed: ratio, sizing, legs"
    )
    assert one_line_error(["run", str(BASKET), "--set", "hedge.legs[3].kind=linear"]) == (
        "error: hedge.legs[3]: index out of range; the list has 1 item(s)"
    )


def test_corrupt_parquet_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    store = tmp_path / "data"
    for rel in ("binance/spot", "binance/swap"):
        shutil.copytree(REPO / "data" / rel, store / rel)
    sol = store / "binance/spot/SOL_USDT-1h-ohlcv.parquet"
    sol.write_bytes(sol.read_bytes()[:4000])  # truncated mid-file
    args = ["run", str(BASKET), "--set", f"data.root={store}", "--quiet", "--out", str(tmp_path)]
    line = one_line_error(args)
    assert line.startswith(f"error: {sol}: not a readable Parquet file (")
    assert line.endswith("); delete it and fetch or import it again")
    res = CliRunner().invoke(cli, ["--debug", *args])
    assert res.exit_code == 1 and type(res.exception).__name__ == "DataValidationError"


def test_report_on_the_parent_of_a_run_names_the_latest_run(tmp_path: Path) -> None:
    raw = yaml.safe_load(BASKET.read_text())
    raw["period"] = {"start": "2023-01-01", "end": "2023-01-05"}
    raw["outputs"] = {"charts": False, "html": False}
    cfg = tmp_path / "short.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    res = CliRunner().invoke(cli, ["run", str(cfg), "-q", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    folder = tmp_path / "r" / "eth_l1_basket"
    (run_dir,) = [p for p in folder.iterdir() if p.name != "latest"]
    assert os.readlink(folder / "latest") == run_dir.name  # relative: the folder can move
    line = one_line_error(["report", str(tmp_path / "r" / "eth_l1_basket")])
    assert line.endswith(f"it holds 1 run(s), the latest is {run_dir.as_posix()}")
    assert one_line_error(["report", str(tmp_path / "nope")]) == (
        f"error: no run folder {tmp_path / 'nope'} (create one with `backtest run CONFIG`)"
    )


def test_a_config_copied_elsewhere_is_told_where_the_bundled_data_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.yaml").write_text(BASKET.read_text())
    line = one_line_error(["run", "my.yaml", "--quiet"])
    assert line == (
        f"error: data.root: no data folder at {tmp_path.resolve() / 'data'} (a relative "
        "data.root is looked up in the working directory, then in the config's folder, then in "
        "its project root); start a project with the bundled sample data: backtest init DIR, "
        f"or point data.root at a store (the bundled sample store is {REPO / 'data'}), or fetch "
        "the config's data with: backtest download CONFIG"
    )


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    raw = yaml.safe_load(BASKET.read_text())
    raw["hedge"]["ratoi"] = 1
    bad.write_text(yaml.safe_dump(raw))
    for args in (["--debug", "run", str(bad)], ["run", str(bad), "--debug"]):
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1
        assert type(res.exception).__name__ == "ConfigError"
        assert str(res.exception).startswith("hedge: unknown key 'ratoi'")
    # after "--" it is an argument, not the option
    res = CliRunner().invoke(cli, ["run", "--", "--debug"])
    assert res.exit_code == 2 and res.stderr == "error: config file not found: --debug\n"


def test_data_commands_on_a_missing_folder_say_so(tmp_path: Path) -> None:
    for command in ("list", "check"):
        line = one_line_error(["data", command, "--data-dir", str(tmp_path / "nope")])
        assert line == f"error: --data-dir: no folder {tmp_path / 'nope'}"


def test_an_output_folder_that_cannot_be_made_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    args = ["run", str(BASKET), "--end", "2023-01-03", "--quiet", "--out", str(blocker)]
    line = one_line_error(args)
    assert line.startswith(f"error: --out: cannot create the run folder {blocker}/eth_l1_basket/")
    assert line.endswith(": Not a directory")


def test_unwritable_compare_out_and_import_store_are_user_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    line = one_line_error(["compare", str(BASKET), "--out", str(blocker / "x"), "-q"])
    assert line == f"error: --out: cannot create {blocker / 'x'}: Not a directory"
    csv = tmp_path / "in.csv"
    csv.write_text("timestamp,open,high,low,close,volume\n2023-01-01 00:00,1,2,1,1,1\n")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "binance").write_text("")  # a file where the exchange folder goes
    args = ["data", "import", str(csv), "--data-dir", str(tmp_path / "store"),
            "--exchange", "binance", "--symbol", "FOO/USDT", "--series", "ohlcv",
            "--timeframe", "1h"]  # fmt: skip
    assert one_line_error(args) == (
        f"error: --data-dir: cannot write into {tmp_path / 'store'}: Not a directory"
    )


def test_a_failed_compare_leaves_no_empty_output_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(["compare", str(tmp_path / "missing.yaml")])
    assert not (tmp_path / "reports").exists()
