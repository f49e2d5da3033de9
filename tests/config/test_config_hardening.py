"""Hostile and careless configs: each is refused before anything runs, with exit 2, one line on
stderr naming the YAML path (or the line numbers), and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from perphedge.cli.main import cli
from perphedge.config import load_config
from perphedge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
BASKET = REPO / "configs" / "eth_l1_basket.yaml"

GOOD = """\
name: t
period:
  start: 2023-01-01
  end: 2023-01-03
capital: 10000
basket:
  coins:
    SOL: 0.5
    AVAX: 0.5
hedge:
  legs:
    - symbol: ETH/USD:ETH
"""


def refused(tmp_path: Path, text: str, *args: str) -> str:
    """Run ``backtest run`` on ``text``; assert exit 2, one line, no stdout, nothing written."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["run", str(cfg), "--quiet", "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists()
    return lines[0]


def with_line(key: str, value: str) -> str:
    """GOOD with the top-level ``key`` set to ``value``."""
    lines = [ln for ln in GOOD.splitlines() if not ln.startswith(f"{key}:")]
    return "\n".join(lines) + f"\n{key}: {value}\n"


DEEP = "a:\n" + "".join("  " * i + "  b:\n" for i in range(40))  # block style, 41 levels
FLOW_DEEP = "name: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n"  # a 10,000-deep mapping
BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )  # fmt: skip
)

CASES = [
    # (id, config text, extra args, expected fragment of the one line)
    ("duplicate-name", GOOD + "name: u\n", (), "duplicate key 'name' at lines 1 and 13"),
    (
        "duplicate-coin",
        GOOD.replace("AVAX: 0.5", "SOL: 0.5"),
        (),
        "duplicate key 'SOL' at lines 8 and 9",
    ),
    ("400-digit-capital", with_line("capital", "9" * 400), (), "capital: expected a finite number"),
    (
        "5000-digit-capital",
        with_line("capital", "9" * 5000),
        (),
        "line 12: 99999999999999999999... (5,000 characters) is not a valid number (Exceeds the limit (4300 digits) for integer string conversion)",
    ),
    (
        "capital-1e308",
        with_line("capital", "1.0e+308"),
        (),
        "capital: 1e+308 is outside [1, 1e+12]",
    ),
    ("capital-tiny", with_line("capital", "1.0e-300"), (), "capital: 1e-300 is outside [1, 1e+12]"),
    (
        "huge-weight",
        GOOD.replace("SOL: 0.5", "SOL: 1.0e+300"),
        (),
        "basket.coins: weights sum to 1e+300",
    ),
    (
        "huge-ratio",
        GOOD.replace("hedge:\n", "hedge:\n  ratio: 1.0e+200\n"),
        (),
        "hedge.ratio: 1e+200 is outside [0, 3]",
    ),
    (
        "year-1",
        GOOD.replace("2023-01-01", "0001-01-01"),
        (),
        "period.start: 0001-01-01 is outside 2009-01-03 to 2100-01-01",
    ),
    (
        "year-9999",
        GOOD.replace("2023-01-03", "9999-01-03"),
        (),
        "period.end: 9999-01-03 is outside 2009-01-03 to 2100-01-01",
    ),
    (
        "before-bitcoin",
        GOOD.replace("2023-01-01", "2008-12-31"),
        (),
        "period.start: 2008-12-31 is outside",
    ),
    (
        "month-13",
        GOOD.replace("2023-01-01", "2023-13-01"),
        (),
        "c.yaml: line 3: 2023-13-01 is not a valid date (month must be in 1..12)",
    ),
    (
        "ambiguous-date",
        GOOD.replace("2023-01-01", "'06/01/2023'"),
        (),
        "forms like 06/01/2023 are ambiguous",
    ),
    (
        "ambiguous-start-flag",
        GOOD,
        ("--start", "06/01/2023"),
        "period.start: expected an ISO 8601 date",
    ),
    (
        "off-grid-start",
        GOOD,
        ("--start", "2023-01-01T00:30"),
        "period.start: 2023-01-01T00:30:00Z is not on the 1h bar grid; the nearest bars open at "
        "2023-01-01T00:00:00Z and 2023-01-01T01:00:00Z",
    ),
    ("deep-mapping", GOOD + DEEP, (), "nested more than 32 levels deep"),
    ("deep-flow", FLOW_DEEP, (), "nested more than 32 levels deep"),
    ("alias-bomb", GOOD + BOMB, (), "more than 16 YAML aliases"),
    ("big-file", GOOD + "#" + "x" * (1 << 20) + "\n", (), "a config may be at most 1,048,576"),
    ("long-name", with_line("name", "n" * 300), (), "name: is 300 characters long; at most 64"),
    ("slash-name", with_line("name", "'../evil'"), (), "name: invalid name '../evil'"),
    (
        "leverage-band",
        GOOD + "collateral:\n  leverage_band: [1.5, 1.0e+9]\n",
        (),
        "collateral.leverage_band[1]",
    ),
    (
        "maintenance",
        GOOD.replace(
            "    - symbol: ETH/USD:ETH", "    - symbol: ETH/USD:ETH\n      maintenance_margin: 0.9"
        ),
        (),
        "hedge.legs[0].maintenance_margin: 0.9 is outside [0, 0.5]",
    ),
    (
        "max-fill-bars",
        GOOD + "data:\n  max_fill_bars: 99999999\n",
        (),
        "data.max_fill_bars: 99999999 is outside",
    ),
]


@pytest.mark.parametrize(
    ("text", "args", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_config_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, text: str, args: tuple[str, ...], fragment: str
) -> None:
    assert fragment in refused(tmp_path, text, *args)


def test_ten_megabyte_name_by_override_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^name: is 10,000,000 characters long; at most 64"):
        load_config(BASKET, {"name": "n" * 10_000_000})


def test_the_good_config_loads_and_iso_times_are_utc(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD.replace("2023-01-01", "'2023-01-01T02:00:00+02:00'"), encoding="utf-8")
    c = load_config(cfg)
    assert c.period.start.isoformat() == "2023-01-01T00:00:00+00:00"
    assert c.period.start.unit == "ns"


def test_a_few_aliases_are_still_fine(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(GOOD + "x_fee: &f 0.001\ncosts:\n  spot_fee: *f\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key 'x_fee'"):
        load_config(cfg)  # parsed (one alias is allowed); only the unknown key is refused
