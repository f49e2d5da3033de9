"""Regression baselines: pin a config's headline metrics and equity curve, then check reruns.

``baselines/<name>.json`` holds the config's path (relative to the baselines folder's parent),
any overrides, the headline metrics with a tolerance each, and a digest of the hedged and
unhedged equity series (sha256 of the values rounded to cents, plus a few sampled values so a
drift can be located). :func:`check` reruns the config and lists every metric that moved beyond
its tolerance; the digest is compared exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perphedge.config import load_config, normalize_overrides
from perphedge.engine.types import Result
from perphedge.errors import ConfigError

BASELINE_VERSION = 1
DEFAULT_DIR = Path("baselines")
DIGEST_COLUMNS = ("equity_hedged", "equity_unhedged")
DIGEST_DECIMALS = 2  # cents
N_SAMPLES = 5
# relative tolerance per metric; absolute floor so values near zero do not flap
DEFAULT_REL_TOL = 1e-6
DEFAULT_ABS_TOL = 1e-8
COUNT_METRICS = (
    "n_rebalances",
    "n_trades",
    "n_topups",
    "n_withdrawals",
    "n_liquidations",
)


@dataclass(frozen=True)
class Drift:
    """One metric (or the digest) of a config that moved beyond its tolerance."""

    config: str  # config name
    metric: str
    expected: Any
    actual: Any
    tolerance: str

    def __str__(self) -> str:
        return (
            f"{self.config}: {self.metric} was {_fmt(self.expected)}, now {_fmt(self.actual)} "
            f"(tolerance {self.tolerance})"
        )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def headline_metrics(result: Result) -> dict[str, float | int]:
    """The numeric metrics of a run (every key compute_metrics returned that is a number)."""
    out: dict[str, float | int] = {}
    for key, value in sorted(result.metrics.items()):
        if isinstance(value, (bool, np.bool_, int, np.integer)):
            out[key] = int(value)
        elif isinstance(value, (float, np.floating)):
            out[key] = float(value)
    return out


def tolerance_for(metric: str) -> dict[str, float]:
    """Tolerance of a metric: counts must match exactly, everything else to 1e-6 relative."""
    if metric in COUNT_METRICS:
        return {"rel": 0.0, "abs": 0.0}
    return {"rel": DEFAULT_REL_TOL, "abs": DEFAULT_ABS_TOL}


def equity_digest(result: Result) -> dict[str, Any]:
    """sha256 of the equity series rounded to cents, with sampled values to locate a drift."""
    ts = result.timeseries
    cols = [c for c in DIGEST_COLUMNS if c in ts.columns]
    h = hashlib.sha256()
    samples: dict[str, dict[str, float]] = {}
    n = len(ts)
    picks = (
        sorted({int(round(i * (n - 1) / (N_SAMPLES - 1))) for i in range(N_SAMPLES)}) if n else []
    )
    for col in cols:
        values = np.round(ts[col].to_numpy(dtype=np.float64), DIGEST_DECIMALS)
        values = np.where(values == 0, 0.0, values)  # -0.0 and 0.0 hash alike
        h.update(col.encode())
        h.update(np.ascontiguousarray(values).tobytes())
        samples[col] = {_stamp(ts.index[i]): float(values[i]) for i in picks}
    return {
        "sha256": h.hexdigest(),
        "columns": cols,
        "rows": n,
        "decimals": DIGEST_DECIMALS,
        "samples": samples,
    }


def _stamp(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def baseline_path(name: str, directory: str | os.PathLike[str] = DEFAULT_DIR) -> Path:
    return Path(directory) / f"{name}.json"


def _run(config_path: str | os.PathLike[str], overrides: Mapping[str, object]) -> Result:
    from perphedge.runner import run

    return run(config_path, overrides=dict(overrides) if overrides else None)


def save(
    config: str | os.PathLike[str],
    *,
    overrides: Mapping[str, object] | list[str] | None = None,
    directory: str | os.PathLike[str] = DEFAULT_DIR,
    result: Result | None = None,
) -> Path:
    """Run ``config`` (a YAML path) and write ``<directory>/<name>.json``; returns its path."""
    ov = normalize_overrides(overrides)
    if result is None:
        result = _run(config, ov)
    cfg = load_config(config, ov or None)
    directory = Path(directory)
    metrics = headline_metrics(result)
    payload = {
        "version": BASELINE_VERSION,
        "name": cfg.name,
        "config": _relative_config_path(Path(config), directory),
        "overrides": {k: _json_value(v) for k, v in ov.items()},
        "config_hash": result.meta.get("config_hash"),
        "data_fingerprint": result.meta.get("data_fingerprint"),
        "metrics": metrics,
        "tolerances": {k: tolerance_for(k) for k in metrics},
        "digest": equity_digest(result),
    }
    path = baseline_path(cfg.name, directory)
    tmp = path.with_suffix(".json.tmp")
    text = json.dumps(payload, indent=2, sort_keys=False, allow_nan=True) + "\n"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a read-only folder, a full disk: the old baseline stays
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise ConfigError("--dir", f"cannot write {path}: {reason}") from None
    return path


def _json_value(value: object) -> object:
    """An override value as JSON: dates and times as ISO 8601 text (they load back the same)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _relative_config_path(config: Path, directory: Path) -> str:
    """The config's path relative to the baselines folder's parent (the project root)."""
    root = directory.resolve().parent
    try:
        return config.resolve().relative_to(root).as_posix()
    except ValueError:  # outside the project: still relative, never a machine path
        return Path(os.path.relpath(config.resolve(), root)).as_posix()


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(
            "", f"no baseline at {p}; create it with: backtest baseline save CONFIG"
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError("", f"baseline {p} is not valid JSON: {exc}") from None
    if data.get("version") != BASELINE_VERSION:
        raise ConfigError("", f"baseline {p} has version {data.get('version')!r}; expected 1")
    return data


def compare(baseline: Mapping[str, Any], result: Result) -> list[Drift]:
    """Every metric of ``result`` outside the baseline's tolerance, and a changed digest."""
    name = str(baseline.get("name"))
    drifts: list[Drift] = []
    actual = headline_metrics(result)
    tols = baseline.get("tolerances", {})
    for key, expected in baseline.get("metrics", {}).items():
        tol = tols.get(key, tolerance_for(key))
        tol_text = f"rel {tol['rel']:g}, abs {tol['abs']:g}"
        if key not in actual:
            drifts.append(Drift(name, key, expected, "missing", tol_text))
            continue
        got = actual[key]
        if not _close(expected, got, tol["rel"], tol["abs"]):
            drifts.append(Drift(name, key, expected, got, tol_text))
    for key in sorted(set(actual) - set(baseline.get("metrics", {}))):
        drifts.append(Drift(name, key, "missing", actual[key], "new metric"))
    digest = equity_digest(result)
    want = baseline.get("digest", {})
    if want.get("sha256") != digest["sha256"]:
        where = _first_sample_change(want.get("samples", {}), digest["samples"])
        drifts.append(
            Drift(
                name,
                "equity digest" + (f" ({where})" if where else ""),
                str(want.get("sha256", ""))[:12],
                digest["sha256"][:12],
                f"exact at {DIGEST_DECIMALS} decimals",
            )
        )
    return drifts


def _first_sample_change(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    for col, values in old.items():
        for stamp, value in values.items():
            got = new.get(col, {}).get(stamp)
            if got is None or got != value:
                return f"{col} at {stamp}: {value} -> {got}"
    return ""


def _close(expected: Any, actual: Any, rel: float, abs_tol: float) -> bool:
    if expected is None or actual is None:
        return expected is actual
    e, a = float(expected), float(actual)
    if math.isnan(e) or math.isnan(a):
        return math.isnan(e) and math.isnan(a)
    if math.isinf(e) or math.isinf(a):
        return e == a
    return abs(a - e) <= max(abs_tol, rel * abs(e))


def baselined_configs(directory: str | os.PathLike[str] = DEFAULT_DIR) -> list[Path]:
    """The baseline files in ``directory`` (sorted)."""
    return sorted(Path(directory).glob("*.json"))


def check(
    configs: Sequence[str | os.PathLike[str]] | None = None,
    *,
    overrides: Mapping[str, object] | list[str] | None = None,
    directory: str | os.PathLike[str] = DEFAULT_DIR,
    on_checked: Callable[[Path, list[Drift]], None] | None = None,
) -> list[Drift]:
    """Rerun each config (all with a baseline when none are given) and list the drifts.

    A config's recorded overrides are applied first, then ``overrides`` (e.g. a deliberate fee
    change to see the check fail). ``on_checked(config_path, drifts)`` is called after each
    config, so a caller can report progress config by config.
    """
    directory = Path(directory)
    extra = normalize_overrides(overrides)
    jobs: list[tuple[Path, dict[str, Any]]] = []
    if configs:
        for cfg_path in configs:
            cfg = load_config(cfg_path)
            target = baseline_path(cfg.name, directory)
            if not target.is_file():
                where = "" if directory == Path(DEFAULT_DIR) else f" --dir {directory}"
                raise ConfigError(
                    "",
                    f"no baseline at {target}; create it with: backtest baseline save "
                    f"{Path(cfg_path).as_posix()}{where}",
                )
            jobs.append((Path(cfg_path), load_baseline(target)))
    else:
        files = baselined_configs(directory)
        if not files:
            raise ConfigError(
                "", f"no baselines in {directory}; create them with: backtest baseline save CONFIG"
            )
        for f in files:
            data = load_baseline(f)
            cfg_path = Path(data["config"])
            if not cfg_path.is_absolute():
                cfg_path = directory.resolve().parent / cfg_path
            jobs.append((cfg_path, data))
    drifts: list[Drift] = []
    for cfg_path, data in jobs:
        ov = {**data.get("overrides", {}), **extra}
        result = _run(cfg_path, ov)
        found = compare(data, result)
        drifts.extend(found)
        if on_checked is not None:
            on_checked(cfg_path, found)
    return drifts
