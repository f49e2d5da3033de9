"""Write a finished sweep: tables, each combination's resolved config, charts and report.html.

Layout of ``<out or outputs.dir>/<sweep name>/<run-id>/``::

    results.parquet, results.csv   one row per combination (parameters, status, every metric)
    ranked.txt                     the terminal table
    equity_daily.parquet           each successful combination's daily hedged/unhedged equity
    configs/<combo_id>.yaml        resolved config of each combination (re-run with backtest run)
    heatmap.png (heatmap_2.png, ...), risk_return.png, equity_overlay.png
    sweep.resolved.yaml, meta.json, report.html
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from perphedge.errors import ConfigError
from perphedge.sweep.pipeline import SweepRun
from perphedge.sweep.results import STATUS_OK, metric_columns, ranked, ranked_table
from perphedge.sweep.spec import Status

try:  # libyaml's dumper is ~10x faster; 200 configs should not cost a second
    from yaml import CSafeDumper as _Dumper
except ImportError:  # pragma: no cover - pure-python PyYAML build
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]


def sweep_dir(run: SweepRun, out: str | os.PathLike[str] | None = None) -> Path:
    """``<out or the base config's outputs.dir>/<name>/<run-id>/``, like ``backtest run``;
    a clash gets ``-2``, ``-3``..."""
    base = Path(out) if out is not None else Path(run.base.outputs.dir)
    target = base / run.spec.name / run.run_id
    n = 2
    while target.exists():
        target = base / run.spec.name / f"{run.run_id}-{n}"
        n += 1
    return target


def _labels(frame: pd.DataFrame, run: SweepRun) -> dict[str, str]:
    keys = list(run.spec.keys) + (["period_start"] if run.spec.periods else [])
    out = {}
    for _, row in frame.iterrows():
        out[str(row["combo_id"])] = ", ".join(f"{k}={row[k]}" for k in keys)
    return out


def write_configs(run: SweepRun, folder: Path, shown: Path | None = None) -> int:
    """``configs/<combo_id>.yaml`` for every loadable combination; returns how many.
    ``shown`` is the folder named in each file's re-run comment (default ``folder``)."""
    folder.mkdir(parents=True, exist_ok=True)
    shown = shown or folder
    n = 0
    for p in run.planned:
        if p.config is None:
            continue
        plain = p.config.to_dict()
        plain["name"] = f"{run.spec.name}-{p.combination.combo_id}"
        head = (
            f"# sweep {run.spec.name} ({run.run_id}), combination {p.combination.combo_id}\n"
            f"# {p.combination.label}\n"
            f"# re-run in full, from the project folder: backtest run "
            f"{shown / (p.combination.combo_id + '.yaml')}\n"
        )
        text = yaml.dump(plain, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        (folder / f"{p.combination.combo_id}.yaml").write_text(head + text, encoding="utf-8")
        n += 1
    return n


def equity_frame(run: SweepRun) -> pd.DataFrame:
    """Long table of daily equity: combo_id, date, equity_hedged, equity_unhedged."""
    parts = []
    for cid in sorted(run.outcomes):
        out = run.outcomes[cid]
        if out.status is not Status.OK or out.days is None:
            continue
        parts.append(
            pd.DataFrame(
                {
                    "combo_id": cid,
                    "date": pd.to_datetime(out.days, unit="D", utc=True).as_unit("ns"),
                    "equity_hedged": out.equity_hedged,
                    "equity_unhedged": out.equity_unhedged,
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["combo_id", "date", "equity_hedged", "equity_unhedged"])
    return pd.concat(parts, ignore_index=True)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write_sweep(
    run: SweepRun, out: str | os.PathLike[str] | None = None, *, charts: bool = True
) -> Path:
    """Write every output of ``run``; returns the folder and records the paths in ``run.files``.

    The folder is built under a hidden partial name and renamed when complete (complete.json
    marks it), so a kill or a full disk leaves no sweep folder; ``<name>/latest`` points at it.
    """
    from perphedge.report.rundir import build_atomically, update_latest

    final = sweep_dir(run, out)
    where = "--out" if out is not None else "outputs.dir"
    try:
        files = build_atomically(final, lambda tmp: _write_sweep_into(run, tmp, final, charts))
    except OSError as exc:  # read-only, a file in the way, a full disk: nothing is left
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(where, f"cannot create the sweep folder {final}: {reason}") from None
    with contextlib.suppress(OSError):
        update_latest(final)
    run.out_dir = final
    run.files = files
    return final


def _write_sweep_into(run: SweepRun, folder: Path, final: Path, charts: bool) -> dict[str, Path]:
    """Every output of ``run`` into ``folder`` (the partial folder of ``final``)."""
    from perphedge.sweep.charts import heatmap_chart, overlay_chart, risk_return_chart

    files: dict[str, Path] = {}
    table = run.results
    table.to_parquet(folder / "results.parquet", index=False)
    table.to_csv(folder / "results.csv", index=False)
    files["results.parquet"] = folder / "results.parquet"
    files["results.csv"] = folder / "results.csv"
    text = ranked_table(table, run.spec, top=max(10, run.spec.top))
    (folder / "ranked.txt").write_text(text + "\n", encoding="utf-8")
    files["ranked.txt"] = folder / "ranked.txt"
    equity_frame(run).to_parquet(folder / "equity_daily.parquet", index=False)
    files["equity_daily.parquet"] = folder / "equity_daily.parquet"
    write_configs(run, folder / "configs", final / "configs")
    files["configs"] = folder / "configs"
    resolved = {"sweep": run.spec.to_dict(), "base": run.base.to_dict()}
    (folder / "sweep.resolved.yaml").write_text(
        yaml.dump(resolved, Dumper=_Dumper, sort_keys=False), encoding="utf-8"
    )
    files["sweep.resolved.yaml"] = folder / "sweep.resolved.yaml"

    if charts:
        best = ranked(table)
        best = best[best["rank"].notna()].head(run.spec.top)
        made = {
            ("heatmap" if i == 0 else f"heatmap_{i + 1}"): heatmap_chart(
                table, run.spec, hs, folder / ("heatmap.png" if i == 0 else f"heatmap_{i + 1}.png")
            )
            for i, hs in enumerate(run.spec.heatmaps)
        }
        made |= {
            "risk_return": risk_return_chart(table, run.spec, folder / "risk_return.png"),
            "equity_overlay": overlay_chart(
                run.outcomes,
                list(best["combo_id"]),
                _labels(best, run),
                folder / "equity_overlay.png",
            ),
        }
        files.update({k: v for k, v in made.items() if v is not None})
        files["report.html"] = write_html(run, folder, files, text, final.name)

    counts = table["status"].value_counts()
    meta = {
        "name": run.spec.name,
        "run_id": final.name,
        "source": _shown(run.source_path) if run.source_path else None,
        "executor": run.executor,
        "workers": run.workers,
        "elapsed_s": round(run.elapsed_s, 3),
        "market_data_loads_per_worker": run.data_loads,
        "combinations": len(table),
        "status": {str(k): int(v) for k, v in counts.items()},
        "rank_by": run.spec.rank_by,
        "files": {k: str(v.relative_to(folder)) for k, v in files.items()},
    }
    (folder / "meta.json").write_text(
        json.dumps(meta, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    files["meta.json"] = folder / "meta.json"
    return files


def _shown(path: Path) -> str:
    """A path relative to the working directory when inside it, else its file name."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix() if not Path(path).is_absolute() else Path(path).name


_CAPTIONS = {
    "heatmap": "A metric over two grid axes; each cell reduces the other axes as its title says.",
    "risk_return": "Each dot is one hedged combination; the black star is the unhedged basket "
    "over the same period. Up and to the left is better.",
    "equity_overlay": "Daily equity of the best combinations by the ranking metric, with the "
    "unhedged basket dashed.",
}


def write_html(
    run: SweepRun, folder: Path, files: dict[str, Path], table_text: str, run_id: str = ""
) -> Path:
    """One self-contained page: what was swept, the ranking, the charts, failures, the table."""
    from perphedge.report.fmt import fmt_metric, fmt_value
    from perphedge.report.html import HtmlPage

    spec, frame = run.spec, run.results
    ok = int(frame["status"].eq(STATUS_OK).sum())
    page = HtmlPage(
        f"Sweep {spec.name}",
        f"run {run_id or folder.name}: {len(frame)} combinations, {ok} ran, "
        f"{len(frame) - ok} failed or invalid; {run.executor} executor, {run.workers} worker(s), "
        f"{run.elapsed_s:.1f} s",
    )
    page.heading("What was swept")
    rows = [[d.name, ", ".join(fmt_value(v) for v in d.labels)] for d in spec.grid]
    if spec.periods:
        rows.append(["period", ", ".join(p.label for p in spec.periods)])
    page.table(["Axis", "Values"], rows)
    page.paragraph(
        "Every other setting comes from the base config (resolved copy at the end). Each "
        "combination's full config is in configs/<combo_id>.yaml; "
        "backtest run on it renders the complete single-run report.",
        muted=True,
    )
    page.heading("Ranking")
    page.preformatted(table_text)
    heads = {"risk_return": "Risk and return", "equity_overlay": "Best equity curves"}
    heat_keys = [k for k in files if k.startswith("heatmap")]
    if heat_keys:
        page.heading("Heat maps" if len(heat_keys) > 1 else "Heat map")
        for key in heat_keys:
            page.image(files[key], key.replace("_", " "), _CAPTIONS["heatmap"])
    for key in ("risk_return", "equity_overlay"):
        if key in files:
            page.heading(heads[key])
            page.image(files[key], key.replace("_", " "), _CAPTIONS[key])
    failed = frame[frame["status"].ne(STATUS_OK)]
    if not failed.empty:
        page.heading("Failed combinations")
        page.table(
            ["combo", "status", "error"],
            [[r.combo_id, r.status, f"{r.error_type}: {r.error}"] for r in failed.itertuples()],
        )
    page.heading("All combinations")
    metrics = [m for m in metric_columns(frame, spec) if frame[m].dtype.kind == "f"][:12]
    cols = ["combo_id", "rank", *spec.keys] + (["period_start"] if spec.periods else [])
    body = []
    for _, r in ranked(frame).iterrows():
        cells = [str(r["combo_id"]), "" if pd.isna(r["rank"]) else str(int(r["rank"]))]
        cells += [fmt_value(r[k]) for k in cols[2:]]
        cells += [fmt_metric(m, r[m]) for m in metrics]
        body.append(cells)
    page.table(cols + metrics, body)
    page.heading("Base config")
    page.preformatted(yaml.dump(run.base.to_dict(), Dumper=_Dumper, sort_keys=False))
    return page.write(folder / "report.html")
