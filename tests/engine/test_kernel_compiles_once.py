"""simulate() hands the kernel one set of argument types, whatever the inputs look like.

numba compiles ``run_kernel`` once per distinct set of argument types; a second specialisation
(an int or a float32 where a float went before, float32 targets) would compile the whole
kernel again: seconds on a cold start, and a second entry in the cache.
"""

import dataclasses

import numpy as np
from engine_tables import random_case

from perphedge.engine import kernel as kn
from perphedge.engine import simulate


def test_one_kernel_specialisation_for_varied_inputs():
    for seed in range(6):  # inverse and linear legs, one or two, every flag both ways
        simulate(*random_case(seed))
    market, params, targets = random_case(3)
    odd_types = dataclasses.replace(
        params,
        capital=np.float64(params.capital),
        manage_margin=np.bool_(True),
        rehedge_after_liquidation=np.bool_(False),
        rebalance_every_ns=np.int64(params.rebalance_every_ns),
        min_trade_usd=0,
        rebalance_band=0,
        leverage_target=np.float32(params.leverage_target),
    )
    simulate(market, odd_types, targets.astype(np.float32))
    assert len(kn.run_kernel.signatures) == 1
