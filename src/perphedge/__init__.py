"""perphedge: backtest hedging a spot crypto basket with short coin-margined perpetual swaps."""

__version__ = "0.1.0"


def run(config_or_path, /, **overrides):  # type: ignore[no-untyped-def]
    """Backtest a config (Config, YAML path or raw mapping) and return its Result.

    Keyword overrides use ``__`` for dots: ``run("configs/eth_l1_basket.yaml",
    hedge__ratio=0.5)`` sets ``hedge.ratio``; ``hedge__legs__0__kind="linear"`` indexes a list.
    A mapping under ``overrides=`` takes dotted paths as they are.
    """
    from perphedge import runner

    explicit = overrides.pop("overrides", None) or {}
    merged = {**{k.replace("__", "."): v for k, v in overrides.items()}, **dict(explicit)}
    return runner.run(config_or_path, overrides=merged or None)
