"""The run folder on disk: write every output of a Result, and read a finished run back.

Files: config.resolved.yaml, metrics.json, timeseries.parquet, trades.csv, events.csv,
the PNG charts and report.html. metrics.json and timeseries.parquet are byte-for-byte
deterministic: no write time inside, sorted JSON keys, NaN written as null, and the meta keys
that change from run to run (``run_id``, which carries the UTC start time, and timing keys) are
left out; :func:`load_run` restores ``run_id`` from the folder name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from tqdm import tqdm

from perphedge.engine.types import EVENT_COLUMNS, TRADE_COLUMNS, Result
from perphedge.errors import DataValidationError, MissingDataError
from perphedge.report.charts import RUN_CHARTS
from perphedge.report.html import render_html
from perphedge.report.plain import to_plain
from perphedge.report.plotting import to_utc_index, to_utc_times
from perphedge.report.rundir import (
    COMPLETE_FILE,
    PARTIAL_SUFFIX,
    FileHook,
    check_complete,
    write_marker,
)

CONFIG_FILE = "config.resolved.yaml"
METRICS_FILE = "metrics.json"
TIMESERIES_FILE = "timeseries.parquet"
TRADES_FILE = "trades.csv"
EVENTS_FILE = "events.csv"
HTML_FILE = "report.html"
TIMESERIES_CSV_FILE = "timeseries.csv"
# the files a run folder must hold for `report` and `compare` to use it
REQUIRED_FILES = (CONFIG_FILE, METRICS_FILE, TIMESERIES_FILE, TRADES_FILE, EVENTS_FILE)
METRICS_SCHEMA = 1
# meta keys that differ between two runs of the same config and data; kept out of metrics.json
VOLATILE_META_KEYS: frozenset[str] = frozenset(
    {"run_id", "created_at", "started_at", "finished_at", "elapsed_s", "elapsed_seconds"}
)


def metrics_document(result: Result) -> dict[str, object]:
    """What metrics.json holds: metrics, attribution, meta (minus resolved_config and volatile
    keys), notes."""
    meta = {
        k: v
        for k, v in result.meta.items()
        if k != "resolved_config" and k not in VOLATILE_META_KEYS
    }
    return {
        "schema": METRICS_SCHEMA,
        "metrics": to_plain(result.metrics),
        "attribution": to_plain(result.attribution),
        "meta": to_plain(meta),
        "notes": to_plain(list(result.notes or ())),
    }


def metrics_json(result: Result) -> str:
    """metrics.json text: sorted keys, two-space indent, no NaN (null instead), trailing newline."""
    doc = metrics_document(result)
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def write_timeseries(ts: pd.DataFrame, path: Path) -> Path:
    """timeseries.parquet with a ``timestamp`` index in datetime64[ns, UTC]; deterministic bytes."""
    frame = ts.set_axis(to_utc_index(ts.index).rename("timestamp"), axis=0)
    frame.columns = [str(c) for c in frame.columns]
    table = pa.Table.from_pandas(frame, preserve_index=True)
    pq.write_table(table, path, compression="snappy")
    return path


def _csv_frame(df: pd.DataFrame | None, default_cols: tuple[str, ...]) -> pd.DataFrame:
    if df is None or len(df.columns) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in default_cols})
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: v.value if isinstance(v, Enum) else v)
    if "time" in out.columns and len(out):
        out["time"] = pd.Series(to_utc_times(out["time"].to_list()), index=out.index)
    return out


def write_csv(df: pd.DataFrame | None, path: Path, default_cols: tuple[str, ...]) -> Path:
    """A ledger as CSV: times in UTC ISO form, enums as their values, floats round-trip exact."""
    _csv_frame(df, default_cols).to_csv(path, index=False, lineterminator="\n")
    return path


def read_csv(path: Path) -> pd.DataFrame:
    """A ledger written by :func:`write_csv`, ``time`` back as datetime64[ns, UTC]."""
    df = pd.read_csv(path)
    if "time" in df.columns:
        if len(df):
            df["time"] = pd.DatetimeIndex(pd.to_datetime(df["time"], utc=True)).as_unit("ns")
        else:
            df["time"] = pd.Series([], dtype="datetime64[ns, UTC]")
    return df


def write_outputs(
    result: Result,
    run_dir: Path | str,
    *,
    charts: bool = True,
    html: bool = True,
    progress: bool = False,
    csv: bool = False,
    on_file: FileHook | None = None,
) -> dict[str, Path]:
    """Write every file of a run into ``run_dir`` (created if needed); returns {name: path}.

    Names: config, metrics, timeseries, trades, events, one per chart (equity, hedge_ratio,
    margin, costs, attribution) and html; with ``csv`` also timeseries_csv (timeseries.csv, for
    a spreadsheet). ``progress`` shows a tqdm bar on stderr. ``on_file(name, path)`` is called
    after each file. The completion marker (complete.json) is written last.
    """
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    chart_paths: dict[str, Path] = {}

    def write_text(name: str, text: str) -> Path:
        (out / name).write_text(text, encoding="utf-8")
        return out / name

    def chart(name: str, fname: str, fn: Callable[[Result, Path], Path]) -> Callable[[], Path]:
        def draw() -> Path:
            chart_paths[name] = fn(result, out / fname)
            return chart_paths[name]

        return draw

    cfg = to_plain(result.meta.get("resolved_config") or {})
    tasks: list[tuple[str, Callable[[], Path]]] = [
        ("config", lambda: write_text(CONFIG_FILE, yaml.safe_dump(cfg, sort_keys=False))),
        ("metrics", lambda: write_text(METRICS_FILE, metrics_json(result))),
        ("timeseries", lambda: write_timeseries(result.timeseries, out / TIMESERIES_FILE)),
        ("trades", lambda: write_csv(result.trades, out / TRADES_FILE, TRADE_COLUMNS)),
        ("events", lambda: write_csv(result.events, out / EVENTS_FILE, EVENT_COLUMNS)),
    ]
    if csv:
        tasks.append(("timeseries_csv", lambda: write_timeseries_csv(result.timeseries, out)))
    if charts:
        tasks += [(name, chart(name, fname, fn)) for name, fname, fn in RUN_CHARTS]
    if html:
        tasks.append(("html", lambda: render_html(result, chart_paths, out / HTML_FILE)))
    paths: dict[str, Path] = {}
    with tqdm(
        tasks,
        desc="report",
        unit="file",
        file=sys.stderr,
        disable=None if progress else True,  # None: only on a terminal, never into a log
        leave=False,
    ) as bar:
        for name, task in bar:
            bar.set_postfix_str(name)
            paths[name] = task()
            if on_file is not None:
                on_file(name, paths[name])
    write_marker(out)
    return paths


def write_timeseries_csv(ts: pd.DataFrame, folder: Path) -> Path:
    """timeseries.csv: the timeseries with a UTC ISO ``timestamp`` column, for a spreadsheet."""
    frame = ts.set_axis(to_utc_index(ts.index).rename("timestamp"), axis=0)
    frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = folder / TIMESERIES_CSV_FILE
    frame.to_csv(path, index=True, lineterminator="\n")
    return path


def _nan_for_null(d: Mapping[str, object]) -> dict[str, object]:
    return {k: (float("nan") if v is None else v) for k, v in d.items()}


def _runs_below(folder: Path) -> str:
    """'; it holds 3 runs, the latest is X' when ``folder`` is a config's folder of runs (such as
    reports/<name>/) or a reports folder, so a user who named the parent learns what to pass."""
    runs = sorted(
        (
            m.parent
            for m in [*folder.glob(f"*/{COMPLETE_FILE}"), *folder.glob(f"*/*/{COMPLETE_FILE}")]
            if not m.parent.is_symlink() and not m.parent.name.startswith(".")
        ),
        key=lambda r: (r.name, r.as_posix()),
    )
    if not runs:
        return ""
    return f"; it holds {len(runs)} run(s), the latest is {runs[-1].as_posix()}"


def load_run(run_dir: Path | str) -> Result:
    """Read a run folder written by :func:`write_outputs` back into a Result (for re-rendering).

    Metric and attribution values stored as null come back as NaN.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise MissingDataError(f"no run folder {d} (create one with `backtest run CONFIG`)")
    if d.name.startswith(".") and d.name.endswith(PARTIAL_SUFFIX):
        raise DataValidationError(
            f"{d} is incomplete (no {COMPLETE_FILE}: an interrupted write left it); run it again"
        )
    if not (d / METRICS_FILE).is_file():
        raise MissingDataError(
            f"{d / METRICS_FILE} not found: {d} is not a finished run folder"
            f"{_runs_below(d) or ' (create one with `backtest run CONFIG`)'}"
        )
    check_complete(d, REQUIRED_FILES)
    doc, ts, trades, events = _read_outputs(d)
    meta = dict(doc.get("meta") or {})
    meta.setdefault("run_id", d.name)
    meta["resolved_config"] = _read_resolved_config(d / CONFIG_FILE)
    return Result(
        timeseries=ts,
        trades=trades,
        events=events,
        attribution={
            k: float("nan") if v is None else float(v)
            for k, v in (doc.get("attribution") or {}).items()
        },  # fmt: skip
        metrics=_nan_for_null(doc.get("metrics") or {}),
        notes=tuple(str(n) for n in (doc.get("notes") or [])),
        meta=meta,
    )


def _read_outputs(d: Path) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """metrics.json, timeseries.parquet, trades.csv and events.csv of a run folder; a file that
    cannot be read is a DataValidationError naming it."""
    try:
        doc = json.loads((d / METRICS_FILE).read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise DataValidationError(f"{d / METRICS_FILE} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), dict):
        raise DataValidationError(f"{d / METRICS_FILE} has no 'metrics' section")
    try:
        ts = pd.read_parquet(d / TIMESERIES_FILE)
        ts = ts.set_axis(to_utc_index(ts.index).rename("timestamp"), axis=0)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataValidationError(
            f"{d / TIMESERIES_FILE} is not a readable Parquet file ({reason}); run it again"
        ) from None
    ledgers = []
    for name in (TRADES_FILE, EVENTS_FILE):
        try:
            ledgers.append(read_csv(d / name))
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            reason = str(exc).splitlines()[0][:120]
            raise DataValidationError(
                f"{d / name} cannot be read ({reason}); run it again"
            ) from None
    return doc, ts, ledgers[0], ledgers[1]


def _read_resolved_config(path: Path) -> dict:
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, OSError, ValueError):
        raise DataValidationError(f"{path} is not readable YAML; run it again") from None
    if not isinstance(cfg, dict):
        raise DataValidationError(f"{path} does not hold a config mapping; run it again")
    return cfg
