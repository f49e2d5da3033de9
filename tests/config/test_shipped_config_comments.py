"""The shipped configs are commented for a newcomer: the comments must say what the run does.

Checked here: every config loads, and its comment on ``data.mark_substitute`` names the series
that really stands in for the missing mark candles (the run's own note says which)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from perphedge.config import load_config
from perphedge.runner import data_spec, load_market

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / "configs").glob("*.yaml") if "sweep" not in p.name)


def _comment_after(text: str, key: str) -> str:
    """The comment on the line of ``key:`` and its continuation lines (comment-only lines)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^\s*{key}:", line):
            out = [line.partition("#")[2]]
            for nxt in lines[i + 1 :]:
                if not nxt.strip().startswith("#"):
                    break
                out.append(nxt.strip().lstrip("#"))
            return " ".join(part.strip() for part in out)
    raise AssertionError(f"no {key}: line")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_mark_substitute_comment_names_what_stands_in(path: Path, monkeypatch) -> None:
    monkeypatch.chdir(REPO)
    cfg = load_config(path)
    market, _ = load_market(data_spec(cfg, path))
    notes = [n for n in market.notes if "stands in for the mark" in n]
    comment = _comment_after(path.read_text(), "mark_substitute").lower()
    if not notes:
        assert "no substitute" in comment, comment
    elif all(" spot " in n for n in notes):
        assert "spot" in comment and "last price stands in" not in comment, comment
    else:
        assert all("perp last price" in n for n in notes), notes
        assert "last price" in comment, comment
