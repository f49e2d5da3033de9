"""Output folders that are either complete or absent.

A run (or sweep) folder is built under a hidden temporary name beside its final place
(``.<run-id>.<pid>.partial``), finished with a completion marker (``complete.json``: every output
and its size) and then renamed into place in one step. A kill, a full disk or an error therefore
leaves at most a hidden partial folder, which readers never accept and the next run of the same
name removes once its writer is gone. Readers (:func:`check_complete`) refuse a folder without
the marker, or whose files are missing or of another size than recorded, naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from perphedge.errors import DataValidationError

COMPLETE_FILE = "complete.json"
PARTIAL_SUFFIX = ".partial"
LATEST_LINK = "latest"
LATEST_FILE = "LATEST"  # where symlinks cannot be made: the newest run's folder name
STALE_AGE_S = 120.0  # a partial folder of a dead writer is removed once this old
ABANDONED_AGE_S = 86_400.0  # ... and any partial folder once this old (its pid may be reused)

# (name of the file being finished, its path): called after each output file is written;
# tests use it to pause or fail between files
FileHook = Callable[[str, Path], None]


def partial_path(final: Path) -> Path:
    """The hidden folder a write into ``final`` builds first."""
    return final.parent / f".{final.name}.{os.getpid()}{PARTIAL_SUFFIX}"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_marker(folder: Path) -> Path:
    """Write ``complete.json`` listing every file under ``folder`` (relative path: size)."""
    files = {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != COMPLETE_FILE and not p.name.startswith(".")
    }
    marker = folder / COMPLETE_FILE
    _atomic_write_text(marker, json.dumps({"files": files}, indent=1, sort_keys=True) + "\n")
    return marker


def check_complete(folder: Path, required: tuple[str, ...] = ()) -> None:
    """Refuse (DataValidationError, one line) a folder that was not finished or was damaged."""
    marker = folder / COMPLETE_FILE
    if not marker.is_file():
        raise DataValidationError(
            f"{folder} is incomplete (no {COMPLETE_FILE}: its write was interrupted, or an "
            "older perphedge wrote it); run it again"
        )
    try:
        listed = json.loads(marker.read_text(encoding="utf-8"))["files"]
        if not isinstance(listed, Mapping):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise DataValidationError(f"{marker} is damaged; run it again") from None
    for name in required:
        if name not in listed:
            raise DataValidationError(f"{folder} is incomplete: it has no {name}; run it again")
    for name, size in listed.items():
        path = folder / name
        if not path.is_file():
            raise DataValidationError(f"{folder} is incomplete: {name} is missing; run it again")
        if path.stat().st_size != size:
            raise DataValidationError(
                f"{folder} is damaged: {name} has {path.stat().st_size:,} bytes, "
                f"{size:,} when written; run it again"
            )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process
    return True


def clean_partials(parent: Path, *, stale_age_s: float = STALE_AGE_S) -> list[Path]:
    """Remove the partial folders under ``parent`` left by writers that died: their pid is gone
    and they are older than ``stale_age_s``, or they are older than a day. Returns them."""
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    now = time.time()
    for entry in parent.iterdir():
        name = entry.name
        if not (name.startswith(".") and name.endswith(PARTIAL_SUFFIX)) or not entry.is_dir():
            continue
        try:
            pid = int(name[: -len(PARTIAL_SUFFIX)].rsplit(".", 1)[1])
            age = now - entry.stat().st_mtime
        except (ValueError, IndexError, OSError):
            continue
        if (age >= stale_age_s and not _pid_alive(pid)) or age >= ABANDONED_AGE_S:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def publish(partial: Path, final: Path) -> None:
    """Rename the finished ``partial`` folder to ``final`` in one step."""
    os.rename(partial, final)


def update_latest(final: Path) -> Path:
    """Point ``<parent>/latest`` at ``final`` (a relative symlink, replaced atomically); where
    symlinks cannot be made, write ``<parent>/LATEST`` holding the folder name instead."""
    parent = final.parent
    link = parent / LATEST_LINK
    tmp = parent / f".{LATEST_LINK}.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        os.symlink(final.name, tmp, target_is_directory=True)
        os.replace(tmp, link)
        return link
    except OSError:
        tmp.unlink(missing_ok=True)
        _atomic_write_text(parent / LATEST_FILE, final.name + "\n")
        return parent / LATEST_FILE


def build_atomically(final: Path, write: Callable[[Path], Mapping[str, Path]]) -> dict[str, Path]:
    """Run ``write(folder)`` on a hidden partial folder, mark it complete and rename it to
    ``final``; on any failure the partial folder is removed and the error re-raised.

    Returns write's {name: path} mapping with the paths moved under ``final``.
    """
    created = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
    partial = partial_path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        clean_partials(final.parent)
        partial.mkdir()
        paths = dict(write(partial))
        write_marker(partial)
        publish(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        for folder in created:  # innermost first: only the folders this call made, if empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return {k: final / Path(p).relative_to(partial) for k, p in paths.items()}


def replace_files(source: Path, target: Path) -> None:
    """Move every file of ``source`` into ``target`` one ``os.replace`` at a time, the marker
    last, then remove ``source``: each file is whole at every moment."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.name != COMPLETE_FILE)
    for path in files:
        dest = target / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest)
    write_marker(target)
    shutil.rmtree(source, ignore_errors=True)
