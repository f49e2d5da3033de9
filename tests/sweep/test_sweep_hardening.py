"""Sweeps that cannot run away: grids refused before expansion, workers that end with their
parent, folders complete or absent, and a bad --out refused before any run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.errors import ConfigError
from perphedge.sweep import grid as grid_mod
from perphedge.sweep.pipeline import load_sweep

ROOT = Path(__file__).resolve().parents[2]
BASE = str(ROOT / "configs" / "eth_l1_basket.yaml")


def _write(tmp_path: Path, grid: dict, **doc: object) -> Path:
    body = {
        "base": BASE,
        "set": {"period.start": "2023-01-01", "period.end": "2023-01-08"},
        "sweep": {"grid": grid},
        **doc,
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def one_line(args: list[str], code: int = 2) -> str:
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


# seven keys of ten values: 10**7 combinations from a 700-byte file
BIG = {f"policy.params.k{i}": list(range(10)) for i in range(7)}


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path, monkeypatch) -> None:
    def never(*_a, **_k):
        raise AssertionError("the grid was expanded")

    monkeypatch.setattr(grid_mod, "expand", never)
    path = _write(tmp_path, BIG)
    out = tmp_path / "out"
    line = one_line(["sweep", str(path), "--out", str(out), "--serial"])
    assert line == (
        "error: sweep.grid: 10,000,000 combinations (10 x 10 x 10 x 10 x 10 x 10 x 10) exceed "
        "the limit of 10,000; narrow the grid or raise the limit with --max-combinations"
    )
    assert not out.exists()


def test_max_combinations_lowers_and_raises_the_limit(tmp_path) -> None:
    path = _write(tmp_path, {"hedge.ratio": [0.5, 1.0, 1.5]})
    line = one_line(["sweep", str(path), "--max-combinations", "2"])
    assert "3 combinations (3) exceed the limit of 2" in line
    loaded = load_sweep(path, max_combinations=3)  # exactly at the limit: accepted
    assert len(loaded.planned) == 3


def test_rolling_windows_are_capped(tmp_path) -> None:
    path = _write(tmp_path, {"hedge.ratio": [1.0]})
    doc = yaml.safe_load(path.read_text())
    doc["set"] = {"period.start": "2010-01-01", "period.end": "2099-01-01"}
    doc["sweep"]["periods"] = {"rolling": {"length": "1d", "step": "1h"}}
    path.write_text(yaml.safe_dump(doc))
    # 89 years hold 32,507 days (22 leap days): 780,168 hours, windows = 780,168 - 24 + 1
    with pytest.raises(ConfigError, match=r"^sweep\.periods\.rolling: 780,145 windows; at most"):
        load_sweep(path)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("n" * 300, "name: is 300 characters long; at most 64"), ("../x", "invalid name '../x'")],
)
def test_a_bad_sweep_name_is_refused(tmp_path, name: str, fragment: str) -> None:
    path = _write(tmp_path, {"hedge.ratio": [1.0]}, name=name)
    assert fragment in one_line(["sweep", str(path), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_out_under_a_file_is_refused_before_any_run(tmp_path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    path = _write(tmp_path, {"hedge.ratio": [1.0]})
    line = one_line(["sweep", str(path), "--out", str(blocker / "x"), "--serial"])
    assert line == f"error: --out: cannot create {blocker / 'x'}: Not a directory"


def test_out_in_a_read_only_folder_is_refused(tmp_path, monkeypatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    real = os.access
    # as root every folder is writable: make the check see what a normal user sees
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == ro else real(p, m))
    path = _write(tmp_path, {"hedge.ratio": [1.0]})
    line = one_line(["sweep", str(path), "--out", str(ro / "x"), "--serial"])
    assert line == f"error: --out: cannot create {ro / 'x'}: Permission denied"
    assert list(ro.iterdir()) == []


def test_a_sweep_whose_write_fails_leaves_no_folder(tmp_path, monkeypatch) -> None:
    from perphedge.sweep import report

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_html", full_disk)
    path = _write(tmp_path, {"hedge.ratio": [1.0]})
    out = tmp_path / "out"
    line = one_line(["sweep", str(path), "--out", str(out), "--serial", "--quiet"])
    assert line.startswith(f"error: --out: cannot create the sweep folder {out / 's'}/")
    assert line.endswith(": No space left on device")
    assert not out.exists()  # not even the folders made for it


CHILD = """
import sys, time
from perphedge.sweep.execute import ProcessExecutor
ex = ProcessExecutor(workers=2)
ex.start()
print(" ".join(str(p) for p in ex._pool._processes), flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its entry waits for a reaper


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_within_seconds_of_their_parent_being_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers)
    finally:
        if parent.poll() is None:
            parent.kill()
