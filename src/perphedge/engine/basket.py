"""Basket rebalancing arithmetic (docs/engine.md, "Basket rebalancing"): pure functions the
compiled kernel and the unhedged counterfactual both use.

Trading a basket back to its weights costs spot fees and slippage, so the basket after the
trades is worth less than before. Selling ``x`` USD of a coin's value brings ``x·(1−s)(1−f)``
USD; spending ``y`` USD on a coin brings ``y/((1+s)(1+f))`` USD of its value. The value ``V'``
after the trades, with every coin at ``w_k·V'``, balances what the overweight coins' sales bring
with what the underweight coins' purchases cost:
``Σ_under (w_k·V' − v_k)·(1+s)(1+f) = Σ_over (v_k − w_k·V')·(1−s)(1−f)``.
"""

from __future__ import annotations

from numba.extending import register_jitable


@register_jitable
def weights_drifted(a, spot, t, weights, band):
    """True if some coin's weight at bar ``t``'s close is more than ``band`` from its target
    (absolute difference of weights: 0.05 is five percentage points)."""
    v = 0.0
    for k in range(a.shape[0]):
        v += a[k] * spot[t, k]
    if not v > 0.0:
        return False
    for k in range(a.shape[0]):  # noqa: SIM110 - a plain loop compiles in numba; any() does not
        if abs(a[k] * spot[t, k] / v - weights[k]) > band:
            return True
    return False


@register_jitable
def rebalanced_value(values, weights, s, f):
    """Basket value ``V'`` after trading the coin values ``values`` to ``weights`` with spot
    slippage ``s`` and fee ``f`` (see the module docstring). Which coins are sold depends on
    ``V'``; a few fixed-point passes settle it (each pass is exact once the sides are right)."""
    rho = (1.0 - s) * (1.0 - f)  # USD received per USD of value sold
    cost = (1.0 + s) * (1.0 + f)  # USD spent per USD of value bought
    v_total = 0.0
    for k in range(values.shape[0]):
        v_total += values[k]
    vp = v_total
    for _ in range(8):
        num = 0.0
        den = 0.0
        for k in range(values.shape[0]):
            if values[k] > weights[k] * vp:
                num += rho * values[k]
                den += rho * weights[k]
            else:
                num += cost * values[k]
                den += cost * weights[k]
        nxt = num / den
        if nxt == vp:
            break
        vp = nxt
    return vp
