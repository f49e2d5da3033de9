"""perphedge: backtest hedging a spot crypto basket with short coin-margined perpetual swaps."""

__version__ = "0.1.0"
