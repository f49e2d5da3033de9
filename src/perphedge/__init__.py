"""perphedge: backtest hedging a spot crypto basket with short coin-margined perpetual swaps."""

__version__ = "0.1.0"


def run(config_or_path, /, **overrides):  # type: ignore[no-untyped-def]
    """Backtest a config (Config, YAML path or raw mapping) and return its Result.

    Keyword overrides use ``__`` for dots: ``run("configs/eth_l1_basket.yaml",
    hedge__ratio=0.5)`` sets ``hedge.ratio``; ``hedge__legs__0__kind="linear"`` indexes a list.
    A mapping under ``overrides=`` takes dotted paths as they are. ``lookahead_check=False``
    skips the run-time look-ahead check (the run's notes say so).
    """
    from perphedge import runner

    check = bool(overrides.pop("lookahead_check", True))
    explicit = overrides.pop("overrides", None) or {}
    merged = {**{k.replace("__", "."): v for k, v in overrides.items()}, **dict(explicit)}
    return runner.run(config_or_path, overrides=merged or None, lookahead_check=check)


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """``perphedge.sweep`` is the sweep package, and calling it runs a sweep:
    ``perphedge.sweep(config, grid=None, **kw) -> pandas.DataFrame`` (see perphedge.sweep).
    Imported on first use so ``import perphedge`` stays light."""
    if name == "sweep":
        import importlib

        return importlib.import_module("perphedge.sweep")
    raise AttributeError(f"module 'perphedge' has no attribute {name!r}")
