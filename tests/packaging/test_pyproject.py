"""pyproject.toml: every subpackage is in the wheel, the core install carries only what a run
needs, and ``sweep --scheduler`` without the ``[dask]`` extra says how to get it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from perphedge.sweep.execute import DaskMissingError, make_executor

REPO = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_subpackage_of_src_is_listed():
    src = REPO / "src"
    found = {
        ".".join(p.parent.relative_to(src).parts) for p in (src / "perphedge").rglob("__init__.py")
    }
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_every_folder_of_the_bundled_store_ships_its_parquet_files():
    setuptools = PYPROJECT["tool"]["setuptools"]
    for folder in sorted({p.parent for p in (REPO / "data").rglob("*.parquet")}):
        name = ".".join(("perphedge.sample_data", *folder.relative_to(REPO / "data").parts))
        assert name in setuptools["packages"], f"add {name} to [tool.setuptools] packages"
        assert setuptools["package-data"].get(name) == ["*.parquet"], name


def test_shipped_folders_are_mapped_onto_the_repository_folders():
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {
        "": "src",
        "perphedge.configs": "configs",
        "perphedge.strategies": "strategies",
        "perphedge.sample_data": "data",
    }


def test_dask_is_an_extra_not_a_core_dependency():
    core = " ".join(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "dask" not in core
    assert extras["dask"] == ["dask[distributed]>=2024.1"]
    dev = " ".join(extras["dev"])
    for needed in ("pytest", "hypothesis", "ruff", "aiohttp", "dask[distributed]", "setuptools"):
        assert needed in dev, needed


def test_scheduler_without_dask_names_the_extra(monkeypatch):
    real = importlib.util.find_spec

    def no_distributed(name, *args, **kwargs):
        return None if name == "distributed" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_distributed)
    with pytest.raises(DaskMissingError) as info:
        make_executor(scheduler="tcp://127.0.0.1:8786")
    assert str(info.value) == (
        "--scheduler needs Dask's distributed scheduler, which is not installed; install it "
        'with: pip install "perphedge[dask]"'
    )
    assert info.value.exit_code == 2
