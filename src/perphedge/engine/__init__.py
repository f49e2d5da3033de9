"""The simulation engine: ``simulate(market, params, targets) -> Result``."""

from perphedge.engine.simulate import EngineInvariantError, simulate
from perphedge.engine.types import EngineParams, LegParams, MarketArrays, Result

__all__ = [
    "EngineInvariantError",
    "EngineParams",
    "LegParams",
    "MarketArrays",
    "Result",
    "simulate",
]
