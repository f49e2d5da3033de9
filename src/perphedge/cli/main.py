"""The ``backtest`` console script: parses arguments and calls library functions.

Errors: a :class:`~perphedge.errors.PerphedgeError` prints one line and exits with its code
(2 for user errors, 3 for failed checks); anything else is a bug and exits 1. ``--debug``
shows tracebacks.
"""

from __future__ import annotations

import json
import os
import sys

import click

from perphedge import __version__
from perphedge.errors import PerphedgeError


class _Group(click.Group):
    """Click group that turns library errors into one clear line and an exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Accept ``--debug`` anywhere before ``--`` (``backtest run X --debug`` too): it is
        moved in front of the subcommand, where the group's option is parsed."""
        if ctx.parent is None:
            cut = args.index("--") if "--" in args else len(args)
            ctx.meta["perphedge.json_errors"] = "--json" in args[:cut]
        if ctx.parent is None and "--debug" in args:
            cut = args.index("--") if "--" in args else len(args)
            head = [a for a in args[:cut] if a != "--debug"]
            if len(head) < cut:
                args = ["--debug", *head, *args[cut:]]
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        def debug() -> bool:  # set by the group's callback, inside super().invoke
            return bool(ctx.obj and ctx.obj.get("debug"))

        try:
            return super().invoke(ctx)
        except PerphedgeError as exc:
            if debug():
                raise
            _fail(ctx, str(exc), exc.exit_code)
        except click.ClickException as exc:
            if not ctx.meta.get("perphedge.json_errors"):
                raise
            _fail(ctx, exc.format_message(), exc.exit_code)
        except (click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            _quiet_closed_pipe()
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place internal errors are reported
            if debug():
                raise
            _fail(
                ctx,
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)",
                1,
                prefix="",
            )


def _fail(ctx: click.Context, message: str, code: int, prefix: str = "error: ") -> None:
    """Report a failure on one line (stderr) or, under ``--json``, as one JSON object on stdout
    (``{"error": ..., "exit_code": N}``), then exit with ``code``."""
    line = " ".join(str(message).split())  # one line, whatever the message held
    if ctx.meta.get("perphedge.json_errors"):
        try:
            click.echo(json.dumps({"error": line, "exit_code": code}))
        except BrokenPipeError:
            _quiet_closed_pipe()
    else:
        click.echo(f"{prefix}{line}", err=True)
    ctx.exit(code)


def _quiet_closed_pipe() -> None:
    """The reader of stdout went away (``backtest data list | head -1``): that is not an error.
    Point stdout at devnull so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(__version__, prog_name="perphedge")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """perphedge: backtest hedging a spot basket with short inverse perpetuals.

    Start with a shipped config (they run offline on the bundled data in data/); outside
    the repository, create a project with them first: backtest init myhedge && cd myhedge

    \b
        backtest run configs/eth_l1_basket.yaml
        backtest run configs/eth_l1_basket.yaml --set hedge.ratio=0.5 --start 2023-06-01
        backtest compare configs/eth_l1_basket.yaml configs/eth_l1_fixed_half.yaml
        backtest data list

    Every command has its own --help. Exit codes: 0 ok, 2 a user error (one line, no
    traceback), 3 a check that found problems, 1 an internal error (rerun with
    'backtest --debug ...' for the traceback). Config reference: docs/config.md.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    from perphedge.cli import data_cmds, download_cmd, run_cmds, sweep_cmd

    for module in (data_cmds, download_cmd, run_cmds, sweep_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)
    from perphedge.cli.init_cmd import init_cmd

    cli.add_command(init_cmd)


_register()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``backtest`` script."""
    cli.main(args=argv, prog_name="backtest", standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
