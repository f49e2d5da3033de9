"""``backtest init DIR``: start a project folder with the shipped configs and sample data."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Accept a non-empty DIR: add only the missing files; existing files are kept unchanged.",
)
def init_cmd(directory: Path, force: bool) -> None:
    """Create a project in DIRECTORY that runs offline at once.

    Writes configs/ (the shipped example configs), strategies/my_policy.py (a commented
    template policy), data/ (the bundled sample store and its SOURCES.md), reports/, a README
    and a .gitignore. DIRECTORY must be new or empty unless --force, which only adds what is
    missing and never changes or deletes a file. Example:

    \b
        backtest init myhedge
        cd myhedge && backtest run configs/eth_l1_basket.yaml
    """
    from perphedge.project import init_project

    result = init_project(directory, force=force)
    where = result.root
    sizes = sum(p.stat().st_size for p in result.written)
    click.echo(
        f"project {where}/: {result.count('configs')} configs, "
        f"{result.count('strategies')} policy template, {result.count('data')} data files, "
        f"reports/, README.md ({sizes / 1e6:.1f} MB written)"
    )
    if result.kept:
        click.echo(f"kept {len(result.kept)} existing file(s) unchanged")
    click.echo(f"next: cd {where} && backtest run configs/eth_l1_basket.yaml")


COMMANDS = [init_cmd]
