"""Entry point of the `dse` command.

Each subcommand lives in its own module under ``dse.cli`` and exposes ``add_parser(subparsers)``
(returns the sub-parser, with ``func`` set to a callable ``run(args) -> int``). User errors
(:class:`dse.errors.UserError`) and bad flags become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from dse.errors import ClusterLost, UserError

# Subcommand modules in the order `dse --help` lists them. A module missing from the tree is
# skipped so that the command works while later layers are still being built.
SUBCOMMAND_MODULES = (
    "dse.cli.workloads_cmd",
    "dse.cli.evaluate_cmd",
    "dse.cli.validate_cmd",
    "dse.cli.run_cmd",
    "dse.cli.report_cmd",
    "dse.cli.sensitivity_cmd",
)

EXIT_USER_ERROR = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line (no usage dump) and exits 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UserError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="dse", description="Design-space exploration for AI inference accelerators.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for mod_name in SUBCOMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as err:
            if err.name == mod_name:
                continue
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USER_ERROR
        return int(args.func(args) or 0)
    except UserError as err:
        print(f"dse: error: {err}", file=sys.stderr)
        if isinstance(err, ClusterLost):
            # Every finally block has run and the storage holds the finished trials; Ray's exit
            # handlers would wait for the lost head (up to a minute, forever when it is frozen).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_USER_ERROR)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("dse: interrupted; finished work is kept in the study storage", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
