"""Plan an import in memory, validate the complete result, then write it atomically.

An import never writes first and checks after: :func:`plan_import` builds the exact frame and
metadata the file will hold (the new rows alone, or merged with the stored file), validates
all of it, and only :func:`commit_import` touches the store. On any problem the store is left
byte-for-byte as it was.

Merging counts the rows it adds and the stored rows whose values the import would change;
changed rows are refused unless the caller says which side wins (``prefer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perphedge.data.store import SeriesKey, Store, build_meta, normalize_frame
from perphedge.data.validate import validate_frame, validate_meta
from perphedge.errors import DataValidationError

# Values closer than this (relative) are the same number written twice (CSV round trips).
SAME_VALUE_RTOL = 1e-9
# Columns derived from the timestamps on every write, never compared.
_DERIVED = ("interval_hours",)
# Metadata that describes one write, not the data: not carried over from the stored file.
_PER_WRITE_META = ("fetched_at", "library")


class WriteMode(str, Enum):
    """What an import does with a series the store already holds."""

    NEW = "new"  # refuse if the store has the series
    MERGE = "merge"  # union with the stored rows
    REPLACE = "replace"  # overwrite the stored file


class Prefer(str, Enum):
    """Which value wins when a merged row differs from the stored one."""

    NEW = "new"
    OLD = "old"


@dataclass(frozen=True)
class MergeCounts:
    """How the imported rows relate to the stored ones."""

    added: int  # timestamps the store did not have
    differing: int  # stored timestamps whose values the import differs on
    same: int  # stored timestamps the import repeats exactly


@dataclass(frozen=True)
class ImportPlan:
    """The validated content of one file, ready to be written."""

    key: SeriesKey
    path: Path
    frame: pd.DataFrame
    meta: dict[str, Any]
    existed: bool
    merged: bool
    counts: MergeCounts
    prefer: Prefer | None
    warnings: tuple[str, ...]

    @property
    def changes_file(self) -> bool:
        """False for a merge that adds nothing and changes nothing (the file is left alone)."""
        if not self.merged:
            return True
        return self.counts.added > 0 or (self.counts.differing > 0 and self.prefer is Prefer.NEW)


def _value_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in _DERIVED]


def differing_rows(old: pd.DataFrame, new: pd.DataFrame) -> pd.DatetimeIndex:
    """Timestamps present in both frames whose values differ (NaN equals NaN)."""
    common = old.index.intersection(new.index)
    if len(common) == 0:
        return common
    cols = [c for c in _value_columns(new) if c in old.columns]
    extra = [c for c in _value_columns(new) if c not in old.columns]
    a = old.loc[common, cols].to_numpy(dtype="float64")
    b = new.loc[common, cols].to_numpy(dtype="float64")
    same = np.isclose(a, b, rtol=SAME_VALUE_RTOL, atol=0.0, equal_nan=True).all(axis=1)
    if extra:  # a column the stored file lacks (mark_price): a new value there is a difference
        same &= np.isnan(new.loc[common, extra].to_numpy(dtype="float64")).all(axis=1)
    return common[~same]


def merge_frames(
    old: pd.DataFrame, new: pd.DataFrame, prefer: Prefer | None
) -> tuple[pd.DataFrame, MergeCounts]:
    """Union of ``old`` and ``new`` (both normalised, sorted, unique) and the counts.

    Raises :class:`DataValidationError` when rows differ and ``prefer`` is ``None``.
    """
    differ = differing_rows(old, new)
    added = int((~new.index.isin(old.index)).sum())
    common = int(new.index.isin(old.index).sum())
    counts = MergeCounts(added=added, differing=len(differ), same=common - len(differ))
    if len(differ) and prefer is None:
        first = differ[0]
        cols = [c for c in _value_columns(new) if c in old.columns]
        diff_cols = [
            c
            for c in cols
            if not np.isclose(
                old.at[first, c], new.at[first, c], rtol=SAME_VALUE_RTOL, atol=0.0, equal_nan=True
            )
        ] or cols
        col = diff_cols[0]
        raise DataValidationError(
            f"{len(differ)} stored row(s) differ from the imported ones (first at "
            f"{first:%Y-%m-%d %H:%M} UTC: {col} {old.at[first, col]:g} stored, "
            f"{new.at[first, col]:g} imported); {added} row(s) would be added; pass "
            "--prefer new or --prefer old to choose, or --replace to overwrite the file"
        )
    keep = "last" if prefer is Prefer.NEW else "first"
    merged = pd.concat([old, new], axis=0)
    merged = merged[~merged.index.duplicated(keep=keep)].sort_index(kind="stable")
    return merged, counts


def plan_import(
    store: Store,
    key: SeriesKey,
    frame: pd.DataFrame,
    meta: Mapping[str, Any] | None = None,
    *,
    mode: WriteMode = WriteMode.NEW,
    prefer: Prefer | None = None,
    what: str = "import",
) -> ImportPlan:
    """Build and validate the exact content of ``key``'s file after the import; write nothing.

    Refuses (:class:`DataValidationError`, one line naming ``what``) an import with no rows,
    one whose complete result fails validation (rows or metadata), a stored series with
    ``mode=NEW``, and differing merged rows without ``prefer``.
    """
    path = store.path(key)
    if len(frame) == 0:
        raise DataValidationError(f"{what}: no rows to import (check --start/--end and the file)")
    new = normalize_frame(key, frame)
    existed = store.exists(key)
    if existed and mode is WriteMode.NEW:
        raise DataValidationError(
            f"{path} already exists; pass --merge to union the rows with it or --replace to "
            "overwrite it"
        )
    carried: dict[str, Any] = {}
    counts = MergeCounts(added=len(new), differing=0, same=0)
    result = new
    if existed and mode is WriteMode.MERGE:
        old, old_meta = store.read(key)
        old = normalize_frame(key, old)
        carried = {k: v for k, v in old_meta.items() if v is not None and k not in _PER_WRITE_META}
        try:
            result, counts = merge_frames(old, new, prefer)
        except DataValidationError as exc:
            raise DataValidationError(f"{what} into {path}: {exc}") from None
        result = normalize_frame(key, result)  # funding intervals recomputed on the union
    full_meta = build_meta(key, {**carried, **{k: v for k, v in (meta or {}).items()}})
    report = validate_frame(result, key.series, key.timeframe, label=what)
    report.errors.extend(validate_meta(full_meta, key.series, key.timeframe))
    if report.errors:
        more = f" (+{len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
        target = f"merged with {path}" if existed and mode is WriteMode.MERGE else str(path)
        raise DataValidationError(
            f"{what}: refused, nothing written ({target}): {report.errors[0]}{more}"
        )
    return ImportPlan(
        key=key,
        path=path,
        frame=result,
        meta=full_meta,
        existed=existed,
        merged=existed and mode is WriteMode.MERGE,
        counts=counts,
        prefer=prefer,
        warnings=tuple(report.warnings),
    )


def commit_import(store: Store, plan: ImportPlan) -> Path:
    """Write a validated plan atomically (nothing is written when it changes nothing)."""
    if plan.changes_file:
        store.write(plan.key, plan.frame, plan.meta)
    return plan.path
