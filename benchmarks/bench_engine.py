"""Engine speed benchmark: ``python benchmarks/bench_engine.py``.

Job: 4 years of hourly bars (35,040), an 8-coin basket hedged with one ETH inverse perpetual,
8-hourly funding, daily rebalancing, a rolling-beta target series (computed here with numpy
from the synthetic data, past rows only), all of the inverse model on (fees, slippage, funding,
liquidation checks, collateral management). Prints the first run in a fresh process twice: cold
(an empty ``NUMBA_CACHE_DIR``, as after a fresh install or an engine source change: everything
compiles) and warm (the numba cache on disk is loaded); then the median of repeated runs after a
warm-up of the kernel alone and of ``simulate()`` whole, and peak memory.

``--compile-profile`` also lists, for one cold child, the compile time of each numba unit
(exclusive of the units it compiles in turn), from numba's own compile events.

Targets: simulate() <= 20 ms median, peak memory < 300 MB, first run in a fresh process < 2 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

HOUR = 3_600 * 10**9
T_BARS = 4 * 365 * 24  # 35,040
K_COINS = 8
START_NS = 1_609_459_200 * 10**9  # 2021-01-01 00:00 UTC
LOOKBACK = 30 * 24  # 30 days of hourly bars for the rolling beta


def build_arrays(seed: int = 7) -> dict:
    """Synthetic market data and rolling-beta targets, numpy only (no perphedge import)."""
    rng = np.random.default_rng(seed)
    T, K = T_BARS, K_COINS
    eth_ret = rng.normal(0.0, 0.008, T)
    betas = rng.uniform(0.6, 1.4, K)
    coin_ret = eth_ret[:, None] * betas[None, :] + rng.normal(0.0, 0.006, (T, K))
    spot = 20.0 * np.exp(np.cumsum(coin_ret, axis=0))
    eth = 2_000.0 * np.exp(np.cumsum(eth_ret))
    mark = (eth * (1.0 + rng.normal(0.0, 0.0003, T)))[:, None]
    high = mark * (1.0 + np.abs(rng.normal(0.0, 0.004, (T, 1))))
    low = mark * (1.0 - np.abs(rng.normal(0.0, 0.004, (T, 1))))
    trade = mark * (1.0 + rng.normal(0.0, 0.0002, (T, 1)))
    times = START_NS + np.arange(T, dtype=np.int64) * HOUR
    events = ((times // HOUR) % 8 == 0).astype(np.int64)[:, None]  # 00:00, 08:00, 16:00 UTC
    rate = np.where(events == 1, rng.normal(0.0001, 0.0001, (T, 1)), 0.0)
    weights = np.full(K, 1.0 / K)
    return dict(
        times=times, spot=spot, eth=eth, mark=mark, high=high, low=low, trade=trade,
        events=events, rate=rate, weights=weights,
        targets=rolling_beta(spot, weights, eth)[:, None],
    )  # fmt: skip


def build_case(seed: int = 7, arrays: dict | None = None):
    """(market, params, targets) for the benchmark job."""
    from perphedge.domain import InstrumentKind
    from perphedge.engine.types import EngineParams, LegParams, MarketArrays

    d = build_arrays(seed) if arrays is None else arrays
    K = d["spot"].shape[1]
    times, mark, rate, eth = d["times"], d["mark"], d["rate"], d["eth"]
    spot, high, low, trade, events = d["spot"], d["high"], d["low"], d["trade"], d["events"]
    weights, targets = d["weights"], d["targets"]
    S = 10.0
    per_unit = S * rate / mark
    market = MarketArrays(
        times=times,
        bar_ns=HOUR,
        coins=tuple(f"L1_{k}" for k in range(K)),
        spot_close=spot,
        legs=("binance ETH/USD:ETH",),
        leg_kind=(InstrumentKind.INVERSE,),
        mark_close=mark,
        mark_high=high,
        mark_low=low,
        trade_close=trade,
        coin_usd=eth[:, None].copy(),
        funding_rate=rate,
        funding_per_unit=per_unit,
        funding_events=events,
        notes=("synthetic benchmark data",),
    )
    params = EngineParams(
        capital=100_000.0,
        weights=weights,
        legs=(LegParams(kind=InstrumentKind.INVERSE, contract_size=S),),
        rebalance_every_ns=24 * HOUR,
        rebalance_band=0.02,
        leverage_band=(1.5, 5.0),
        leverage_target=3.0,
        initial_leverage=3.0,
    )
    return market, params, targets


def rolling_beta(spot: np.ndarray, weights: np.ndarray, hedge: np.ndarray) -> np.ndarray:
    """Beta of buy-and-hold basket returns on hedge returns over LOOKBACK bars ending at t."""
    basket = (spot / spot[0]) @ weights
    rb = np.zeros(basket.shape[0])
    rh = np.zeros(basket.shape[0])
    rb[1:] = np.diff(np.log(basket))
    rh[1:] = np.diff(np.log(hedge))

    def window_sum(x: np.ndarray) -> np.ndarray:
        c = np.cumsum(x)
        out = c.copy()
        out[LOOKBACK:] = c[LOOKBACK:] - c[:-LOOKBACK]
        return out

    n = LOOKBACK
    sb, sh = window_sum(rb), window_sum(rh)
    cov = window_sum(rb * rh) - sb * sh / n
    var = window_sum(rh * rh) - sh * sh / n
    beta = np.where(var > 0.0, cov / np.where(var > 0.0, var, 1.0), 1.0)
    beta[:LOOKBACK] = 1.0  # warm-up: full hedge
    return np.clip(beta, 0.0, 2.0)


def _first_run(profile: bool = False) -> None:
    """Child process: build numpy data, then time engine import + inputs + one simulate().

    Prints ``import_s simulate_s``; with ``profile``, then one line per numba compile unit
    (exclusive seconds, module.function), slowest first.
    """
    arrays = build_arrays()
    import numba.core.event as nb_event

    with nb_event.install_recorder("numba:compile") as rec:
        t0 = time.perf_counter()
        from perphedge.engine import simulate

        market, params, targets = build_case(arrays=arrays)
        t1 = time.perf_counter()
        simulate(market, params, targets)
        t2 = time.perf_counter()
    print(f"{t1 - t0:.4f} {t2 - t1:.4f}")
    if profile:
        for secs, name in _compile_units(rec.buffer):
            print(f"{secs:.4f} {name}")


def _compile_units(buffer) -> list[tuple[float, str]]:
    """Exclusive time per compiled unit from numba's nested compile start/end events."""
    stack: list[str] = []
    excl: dict[str, float] = {}
    prev = None
    for ts, ev in buffer:
        func = ev.data["dispatcher"].py_func
        if prev is not None and stack:
            excl[stack[-1]] = excl.get(stack[-1], 0.0) + ts - prev
        prev = ts
        if ev.is_start:
            stack.append(f"{func.__module__.rsplit('.', 1)[-1]}.{func.__name__}")
        else:
            stack.pop()
    return sorted(((v, k) for k, v in excl.items()), reverse=True)


def _child(cold: bool, profile: bool = False) -> tuple[float, float, float, list[str]]:
    """Run ``_first_run`` in a fresh interpreter; cold: with an empty, throw-away numba cache."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="perphedge-nbcache-") as cache_dir:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache_dir
        argv = [sys.executable, __file__, "--first-run"] + (
            ["--compile-profile"] if profile else []
        )
        t0 = time.perf_counter()
        child = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
        wall = time.perf_counter() - t0
    lines = child.stdout.splitlines()
    imp, first = (float(x) for x in lines[0].split())
    return imp, first, wall, lines[1:]


def _kernel_call(market, params, targets):
    """A closure that runs the kernel alone on prepared inputs (as simulate() would)."""
    import perphedge.engine.simulate  # noqa: F401  (module, not the re-exported function)
    from perphedge.engine import kernel as kn

    sim = sys.modules["perphedge.engine.simulate"]
    arrs = sim._validate_market(market)
    w = sim._validate_params(market, params)
    h = sim._validate_targets(market, targets)
    res = sim.simulate(market, params, targets)
    J, K, T = 1, K_COINS, market.n_bars
    a0 = res.timeseries[[f"units_{c}" for c in market.coins]].to_numpy()[0].copy()
    C0 = np.array([res.timeseries["collateral_coin_0"].iloc[0]])
    lp = params.legs[0]
    out = np.empty((kn.N_BAR_ROWS + J * kn.N_LEG_FIELDS + K, T))
    trades = np.empty((2 * T + 128, kn.N_TRADE_COLS))
    events = np.empty((2 * T + 128, kn.N_EVENT_COLS))
    work = np.empty((kn.N_WORK_ROWS, J))
    vec = lambda v: np.array([v], dtype=np.float64)  # noqa: E731

    def call():
        attr = np.zeros(kn.N_ATTR)
        return kn.run_kernel(
            arrs["times"], market.bar_ns, params.rebalance_every_ns, arrs["spot_close"],
            arrs["mark_close"], arrs["mark_high"], arrs["trade_close"], arrs["coin_usd"],
            arrs["funding_per_unit"], arrs["funding_rate"], arrs["funding_events"], h,
            np.array([True]), vec(lp.contract_size), vec(lp.maintenance_margin),
            vec(lp.taker_fee), vec(lp.liquidation_fee), vec(lp.slippage),
            np.array([-1], dtype=np.int64), w, np.ones((J, K), dtype=np.bool_), 0, 0.0, np.empty(K), params.spot_fee, params.spot_slippage, True,
            params.manage_margin, params.leverage_band[0], params.leverage_band[1],
            params.leverage_target, params.rebalance_band, params.min_trade_usd,
            params.rehedge_after_liquidation, a0.copy(), C0.copy(), np.zeros(J), np.full(J, np.nan),
            work, 0.0, 0.0, out, trades, 0, events, attr,
        )  # fmt: skip

    return call


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples), min(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--cold-runs", type=int, default=3, help="cold-start children (median)")
    ap.add_argument("--compile-profile", action="store_true", help="per-unit compile times")
    ap.add_argument("--first-run", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.first_run:
        _first_run(args.compile_profile)
        return

    colds = [_child(cold=True) for _ in range(max(args.cold_runs, 1))]
    c_imp, c_first, c_wall, _ = sorted(colds, key=lambda r: r[0] + r[1])[len(colds) // 2]
    cold = c_imp + c_first
    print(f"first run, fresh process, COLD (empty NUMBA_CACHE_DIR, all compiled): import "
          f"perphedge.engine {c_imp * 1e3:.0f} ms + first simulate {c_first * 1e3:.0f} ms = "
          f"{cold:.3f} s (median of {len(colds)}; all: "
          f"{', '.join(f'{i + f:.2f}' for i, f, _, _ in colds)} s; whole child {c_wall:.2f} s)")  # fmt: skip
    _child(cold=False)  # fills the on-disk cache if the engine source changed
    imp, first, wall, _ = _child(cold=False)
    warm = imp + first
    print(f"first run, fresh process, WARM (numba cache on disk): import perphedge.engine "
          f"(pandas, numba, cached kernel) {imp * 1e3:.0f} ms + first simulate "
          f"{first * 1e3:.0f} ms = {warm:.3f} s (whole child process incl. interpreter, "
          f"numpy and data synthesis: {wall:.2f} s)")  # fmt: skip
    if args.compile_profile:
        units = _child(cold=True, profile=True)[3]
        print("cold compile units (exclusive seconds), slowest first:")
        for line in units:
            print("   ", line)

    market, params, targets = build_case()
    from perphedge.engine import simulate

    res = simulate(market, params, targets)
    kinds = res.events["kind"].value_counts().to_dict()
    print(f"job: {market.n_bars} hourly bars, {len(market.coins)} coins, "
          f"{int(market.funding_events.sum())} funding events, events {kinds}")  # fmt: skip

    kern = _kernel_call(market, params, targets)
    k_med, k_min = _median_ms(kern, args.repeats)
    s_med, s_min = _median_ms(lambda: simulate(market, params, targets), args.repeats)
    print(f"kernel alone:      median {k_med:8.3f} ms  (min {k_min:.3f}, n={args.repeats})")
    print(f"simulate() whole:  median {s_med:8.3f} ms  (min {s_min:.3f}, n={args.repeats})")

    tracemalloc.start()
    simulate(market, params, targets)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"peak memory: simulate() allocations {peak / 2**20:.1f} MB (tracemalloc), "
          f"process max RSS {rss:.0f} MB")  # fmt: skip
    checks = {
        "simulate <= 20 ms": s_med <= 20.0,
        "RSS < 300 MB": rss < 300.0,
        "cold first run < 2 s": cold < 2.0,
        "warm first run < 2 s": warm < 2.0,
    }
    print("targets:", ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in checks.items()))


if __name__ == "__main__":
    main()
