"""Benchmark: the whole `backtest sweep` command on 200 combinations.

The sweep is the 6-coin layer-1 basket of ``configs/eth_l1_basket.yaml`` (18 months of hourly
bars, 2023-01-01 to 2024-07-01) hedged with the ETH perpetual, over
10 hedge ratios x 5 rebalancing periods x 2 instruments (inverse, linear) x 2 policies
(fixed, rolling_beta) = 200 combinations, with the default executor (local process pool on all
cores). Each repeat runs the command in a fresh subprocess, so imports, validation, data loading
in the workers, charts and report.html are all inside the time. Target: at most 10 s on 2 cores.

    .venv/bin/python benchmarks/bench_sweep.py [--repeat 3] [--workers N] [--keep]

Prints each wall time, the median and the throughput (combinations per second).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "eth_l1_basket.yaml"
N_COMBINATIONS = 200
TARGET_S = 10.0

SWEEP = """\
base: {base}
name: bench_sweep
sweep:
  grid:
    hedge.ratio: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    rebalance.every: [8h, 1d, 3d, 7d, 14d]
    hedge.legs[0].kind: [inverse, linear]
    policy:
      fixed: {{policy.name: fixed, policy.params: {{}}}}
      rolling_beta: {{policy.name: rolling_beta}}
  rank_by: hedged_sharpe
  heatmap: {{x: hedge.ratio, y: rebalance.every, metric: hedged_sharpe}}
"""


def _backtest() -> list[str]:
    exe = Path(sys.executable).with_name("backtest")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "perphedge.cli.main"]


def run_once(sweep_file: Path, out: Path, workers: int | None) -> tuple[float, dict]:
    """Wall time of one `backtest sweep` subprocess, and its meta.json."""
    cmd = [*_backtest(), "sweep", str(sweep_file), "--out", str(out), "--quiet"]
    if workers:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"backtest sweep failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    metas = sorted(out.glob("bench_sweep/*/meta.json"))
    meta = json.loads(metas[-1].read_text())
    if meta["combinations"] != N_COMBINATIONS or meta["status"].get("ok") != N_COMBINATIONS:
        sys.exit(f"expected {N_COMBINATIONS} successful combinations, got {meta['status']}")
    return wall, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--workers", type=int, default=None, help="pool size (default: all)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first run")
    parser.add_argument("--keep", action="store_true", help="keep the output folders")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    sweep_file = tmp / "bench_sweep.yaml"
    sweep_file.write_text(SWEEP.format(base=BASE))
    try:
        if not args.no_warmup:  # numba's on-disk cache and the OS file cache, as a user has them
            run_once(sweep_file, tmp / "warmup", args.workers)
        walls, execs = [], []
        for i in range(args.repeat):
            wall, meta = run_once(sweep_file, tmp / f"run{i}", args.workers)
            walls.append(wall)
            execs.append(meta["elapsed_s"])
            print(
                f"run {i + 1}: {wall:6.2f} s wall for the command "
                f"({meta['elapsed_s']:.2f} s executing on {meta['workers']} "
                f"{meta['executor']} worker(s))"
            )
        med = statistics.median(walls)
        print(
            f"bench_sweep: {N_COMBINATIONS} combinations, 18 months of 1h bars, 6-coin basket, "
            f"{os.cpu_count()} cores"
        )
        print(
            f"median wall {med:.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
            f"throughput {N_COMBINATIONS / med:.1f} runs/s for the whole command, "
            f"{N_COMBINATIONS / statistics.median(execs):.1f} runs/s executing; "
            f"target <= {TARGET_S:.0f} s: {'met' if med <= TARGET_S else 'MISSED'}"
        )
    finally:
        if args.keep:
            print(f"outputs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
