"""Where things are: the files shipped inside perphedge, and a config's project.

Shipped files (read through :mod:`importlib.resources`):

- ``configs``: the example configs (the repository's ``configs/``),
- ``strategies``: the built-in hedge policies (the repository's ``strategies/``),
- ``data``: the bundled sample store with its ``SOURCES.md`` (the repository's ``data/``),
- ``project_template``: what ``backtest init`` writes besides copies of the above.

In an installed wheel the first three are the subpackages ``perphedge.configs``,
``perphedge.strategies`` and ``perphedge.sample_data`` (mapped onto the repository's folders at
build time, so git holds one copy of each file). In a source checkout (editable install) they are
read from the repository's folders directly.

A config's **project** is the nearest folder holding ``configs/`` and ``strategies/`` or
``data/``, at most four levels above the config's folder (for ``myhedge/configs/x.yaml`` that is
``myhedge/``; for a run folder's ``myhedge/reports/<name>/<run-id>/config.resolved.yaml`` too); a
config with no such folder near it is its own project. Strategy files and a relative
``data.root`` are looked up in the config's folder and the project root, nowhere else.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from perphedge.errors import PerphedgeError


class Shipped(enum.Enum):
    """A folder shipped with perphedge: (subpackage in a wheel, folder in a source checkout)."""

    CONFIGS = ("configs", "configs")
    STRATEGIES = ("strategies", "strategies")
    DATA = ("sample_data", "data")
    PROJECT_TEMPLATE = ("project_template", "src/perphedge/project_template")

    @property
    def package_folder(self) -> str:
        return self.value[0]

    @property
    def checkout_folder(self) -> str:
        return self.value[1]


class MissingResourceError(PerphedgeError):
    """A folder that perphedge ships is missing from this installation."""


def _checkout_root() -> Path:
    """The repository root when perphedge runs from a source checkout (src/perphedge -> ../../)."""
    return Path(__file__).resolve().parents[2]


def shipped_dir(what: Shipped) -> Path:
    """The folder of shipped files ``what``: inside the installed package, else in the checkout.

    Raises :class:`MissingResourceError` when neither exists (a broken or zipped install).
    """
    inside = resources.files("perphedge").joinpath(what.package_folder)
    if isinstance(inside, Path) and inside.is_dir():
        return inside.resolve()
    checkout = _checkout_root() / what.checkout_folder
    if checkout.is_dir():
        return checkout.resolve()
    raise MissingResourceError(
        f"this perphedge installation lacks its shipped {what.package_folder} folder; reinstall "
        "it with: pip install --force-reinstall perphedge"
    )


def shipped_dir_or_none(what: Shipped) -> Path | None:
    """Like :func:`shipped_dir`, or ``None`` when the folder is missing."""
    try:
        return shipped_dir(what)
    except MissingResourceError:
        return None


# the config's folder and 4 above: <project>/reports/<sweep>/<run-id>/configs/<combo>.yaml
PROJECT_LEVELS = 5


def is_project(folder: Path) -> bool:
    """A project folder holds ``configs/`` and ``strategies/`` or ``data/`` (what ``backtest
    init`` writes; a run or sweep folder, with at most a ``configs/``, is not one)."""
    return (folder / "configs").is_dir() and (
        (folder / "strategies").is_dir() or (folder / "data").is_dir()
    )


def project_root(config_path: str | os.PathLike[str]) -> Path:
    """The project of a config file (absolute): the nearest project folder (:func:`is_project`)
    among the config's folder and its parents, at most ``PROJECT_LEVELS`` folders in all (so a
    config in ``configs/``, a run folder's ``config.resolved.yaml`` and a sweep folder's
    ``configs/<combo>.yaml`` all find their project); without one, the config's own folder."""
    path = Path(config_path).expanduser().resolve()
    folder = path if path.is_dir() else path.parent
    for candidate in (folder, *folder.parents)[:PROJECT_LEVELS]:
        if is_project(candidate):
            return candidate
    return folder


def project_folders(config_path: str | os.PathLike[str] | None) -> list[Path]:
    """The folders a config's relative paths are looked up in: the config's folder, then its
    project root (each once)."""
    if config_path is None:
        return []
    path = Path(config_path).expanduser().resolve()
    folder = path if path.is_dir() else path.parent
    out = [folder]
    root = project_root(path)
    if root != folder:
        out.append(root)
    return out


def strategy_search_dirs(config_path: str | os.PathLike[str] | None) -> list[Path]:
    """Where a config's ``policy.name`` is looked up, first match wins: ``strategies/`` in the
    config's folder, ``strategies/`` in its project root, then the built-in policies.

    Only folders that exist are listed, each once. Without a config path: the built-ins only.
    """
    found: list[Path] = []
    for folder in project_folders(config_path):
        candidate = folder / "strategies"
        if candidate.is_dir() and candidate.resolve() not in found:
            found.append(candidate.resolve())
    builtin = shipped_dir_or_none(Shipped.STRATEGIES)
    if builtin is not None and builtin not in found:
        found.append(builtin)
    return found


def data_root_candidates(
    root: str | os.PathLike[str], config_path: str | os.PathLike[str] | None
) -> list[Path]:
    """Where a relative ``data.root`` may be, in order: the working directory, the config's
    folder, the config's project root (absolute paths, each once)."""
    p = Path(root).expanduser()
    if p.is_absolute():
        return [p]
    out = [(Path.cwd() / p).resolve()]
    for folder in project_folders(config_path):
        candidate = (folder / p).resolve()
        if candidate not in out:
            out.append(candidate)
    return out


def display_path(path: str | os.PathLike[str], base: str | os.PathLike[str] | None = None) -> str:
    """``path`` relative to ``base`` (default: the working directory) when inside it, else
    as given; always with forward slashes."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path(base or Path.cwd()).resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def missing_data_root_message(root: str | os.PathLike[str]) -> str:
    """The one-line explanation when a config's data folder does not exist."""
    bundled = shipped_dir_or_none(Shipped.DATA)
    sample = f" (the bundled sample store is {bundled})" if bundled is not None else ""
    return (
        f"no data folder at {Path(root)} (a relative data.root is looked up in the working "
        "directory, then in the config's folder, then in its project root); start a project "
        "with the bundled sample data: backtest init DIR, or point data.root at a store"
        f"{sample}, or fetch the config's data with: backtest download CONFIG"
    )


# ---------------------------------------------------------------- backtest init


class ProjectExistsError(PerphedgeError):
    """``backtest init`` was pointed at a folder that already holds something."""


@dataclass(frozen=True)
class InitResult:
    """What :func:`init_project` did: files written and existing files left alone."""

    root: Path
    written: tuple[Path, ...]
    kept: tuple[Path, ...]

    def count(self, folder: str) -> int:
        """How many files were written under ``folder`` (a top-level folder of the project)."""
        return sum(1 for p in self.written if p.relative_to(self.root).parts[0] == folder)


def _shipped_files(source: Path, pattern: str) -> list[Path]:
    """Files under ``source`` matching ``pattern``, without Python package leftovers."""
    return sorted(
        p
        for p in source.glob(pattern)
        if p.is_file() and p.name != "__init__.py" and "__pycache__" not in p.parts
    )


def project_files() -> list[tuple[Path, Path]]:
    """``(source file, path inside the new project)`` for every file ``backtest init`` writes."""
    template = shipped_dir(Shipped.PROJECT_TEMPLATE)
    configs = shipped_dir(Shipped.CONFIGS)
    data = shipped_dir(Shipped.DATA)
    out: list[tuple[Path, Path]] = []
    out += [(f, Path("configs") / f.name) for f in _shipped_files(configs, "*.yaml")]
    out += [(f, f.relative_to(template)) for f in _shipped_files(template, "**/*")]
    out += [(f, Path("data") / f.relative_to(data)) for f in _shipped_files(data, "SOURCES.md")]
    out += [(f, Path("data") / f.relative_to(data)) for f in _shipped_files(data, "*/*/*.parquet")]
    return out


GITIGNORE = "reports/*\n!reports/.gitkeep\n"


def init_project(target: str | os.PathLike[str], *, force: bool = False) -> InitResult:
    """Write a new project folder: shipped configs, a template policy, the sample store,
    ``reports/.gitkeep``, a README and a ``.gitignore``.

    ``target`` must not exist or be empty. With ``force`` a non-empty folder is accepted and only
    the missing files are written: an existing file is never changed or deleted.
    """
    root = Path(target).expanduser()
    if root.exists() and not root.is_dir():
        raise ProjectExistsError(f"{root} exists and is not a folder; pick a new folder name")
    if root.is_dir() and any(root.iterdir()) and not force:
        raise ProjectExistsError(
            f"{root} is not empty; pick a new folder, or add --force to add the missing project "
            "files (existing files are kept unchanged, nothing is deleted)"
        )
    plan: list[tuple[Path | None, Path, bytes | None]] = [
        (src, rel, None) for src, rel in project_files()
    ]
    plan += [
        (None, Path("reports") / ".gitkeep", b""),
        (None, Path(".gitignore"), GITIGNORE.encode()),
    ]
    written: list[Path] = []
    kept: list[Path] = []
    for src, rel, content in plan:
        dest = root / rel
        if dest.exists() or dest.is_symlink():
            kept.append(dest)
            continue
        data = content if content is not None else src.read_bytes()  # type: ignore[union-attr]
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "xb") as fh:  # "x": never replace a file that appeared meanwhile
                fh.write(data)
        except OSError as exc:
            raise ProjectExistsError(
                f"cannot write {dest}: {exc.strerror or type(exc).__name__}"
            ) from None
        written.append(dest)
    return InitResult(root=root, written=tuple(written), kept=tuple(kept))
