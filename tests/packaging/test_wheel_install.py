"""The wheel, installed (not editable) into a fresh virtual environment, runs offline from any
folder: ``backtest init`` then ``backtest run configs/eth_l1_basket.yaml``.

Offline and fast: the wheel is built without build isolation, installed with ``--no-deps
--no-index``, and the new environment reaches this environment's dependencies through a
``.pth`` file (plain path lines: the editable perphedge of this environment stays invisible,
which the test checks).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "src", "configs", "strategies", "data")


def _sh(args: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _copy_sources(dest: Path) -> None:
    """The files a wheel is built from, copied so the build writes nothing into the repo."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)


@pytest.mark.slow
def test_wheel_installs_and_runs_the_main_config_from_a_new_project(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"MPLBACKEND": "Agg", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    from importlib.metadata import version

    setuptools_major = int(version("setuptools").split(".")[0])
    assert setuptools_major >= 77, (
        f"building the wheel offline needs setuptools>=77 (found {version('setuptools')}): "
        'pip install -e ".[dev]"'
    )
    src = tmp_path / "src"
    src.mkdir()
    _copy_sources(src)
    dist = tmp_path / "dist"
    _sh(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", dist, src],
        tmp_path,
        env,
    )
    (wheel,) = dist.glob("perphedge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for inside in (
        "perphedge/configs/eth_l1_basket.yaml",
        "perphedge/strategies/rolling_beta.py",
        "perphedge/sample_data/SOURCES.md",
        "perphedge/sample_data/binance/spot/ETH_USDT-1h-ohlcv.parquet",
        "perphedge/project_template/strategies/my_policy.py",
    ):
        assert inside in names, inside

    venv = tmp_path / "venv"
    _sh([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    py = venv / "bin" / "python"
    _sh(
        [sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index"]
        + [wheel],
        tmp_path,
        env,
    )
    purelib = Path(_sh([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       tmp_path, env).strip())  # fmt: skip
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "_outer_deps.pth").write_text("".join(f"{p}\n" for p in sorted(here)))

    where = _sh([py, "-c", "import perphedge; print(perphedge.__file__)"], tmp_path, env).strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where

    backtest = venv / "bin" / "backtest"
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = _sh([backtest, "init", "myhedge"], work, env)
    repo = Path(__file__).resolve().parents[2]
    n_configs = len(list((repo / "configs").glob("*.yaml")))
    n_data = sum(1 for f in (repo / "data").rglob("*") if f.is_file())
    assert f"{n_configs} configs" in out and f"{n_data} data files" in out, out
    project = work / "myhedge"
    _sh([backtest, "run", "configs/eth_l1_basket.yaml", "--quiet"], project, env)
    (run_dir,) = [
        d for d in (project / "reports" / "eth_l1_basket").iterdir() if d.name != "latest"
    ]
    for name in ("report.html", "metrics.json", "equity.png"):
        assert (run_dir / name).stat().st_size > 0, name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "policy 'rolling_beta': the built-in policy" in metrics["meta"]["notes"]
    # the headline numbers of the shipped baseline (the README's figures)
    assert round(metrics["metrics"]["hedge_effectiveness"], 3) == 0.775
    assert round(metrics["metrics"]["hedged_total_return"], 3) == 0.453
