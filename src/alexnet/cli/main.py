"""``alexnet`` — entry point. Subcommands come from the modules of :mod:`alexnet.cli`.

Each module defines ``ORDER`` (its place in ``alexnet --help``) and ``register(subparsers)``,
which adds parsers whose ``func(args) -> int`` runs the command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import alexnet.cli as _pkg
from alexnet import __version__
from alexnet.atomic import DiskFull
from alexnet.download import OFFLINE_ENV, DownloadError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alexnet",
        description="AlexNet (Krizhevsky, Sutskever & Hinton, 2012): the paper's network, data "
                    "pipeline, training recipe, evaluation and uses.")
    parser.add_argument("--version", action="version", version=f"alexnet {__version__}")
    parser.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = []
    for info in pkgutil.iter_modules(_pkg.__path__):
        if info.name == "main":
            continue
        module = importlib.import_module(f"alexnet.cli.{info.name}")
        if hasattr(module, "register"):
            modules.append(module)
    for module in sorted(modules, key=lambda m: getattr(m, "ORDER", 100)):
        module.register(subparsers)
    _add_offline_to_commands(parser)
    return parser


OFFLINE_HELP = ("forbid downloads (as ALEXNET_OFFLINE=1 does): a weights file or data set that is not cached "
                "is an error saying where it was looked for; accepted before or after the command")


def _add_offline_to_commands(parser: argparse.ArgumentParser, seen: set[int] | None = None) -> None:
    """``--offline`` after any command too (``alexnet predict --offline ...``), nested ones included."""
    seen = set() if seen is None else seen
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    sub.add_argument("--offline", action="store_true", default=argparse.SUPPRESS, help=OFFLINE_HELP)
                    _add_offline_to_commands(sub, seen)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .args import expand_user_paths
    expand_user_paths(args)   # `--out=~/x`: the shell leaves that ~ alone
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    offline_before = os.environ.get(OFFLINE_ENV)
    if args.offline:
        os.environ[OFFLINE_ENV] = "1"          # seen by alexnet.download here and in child processes
    from alexnet import stop
    stop.clear()
    try:
        with stop.sigterm_raises():   # SIGTERM stops like Ctrl-C: clean-up runs, exit 130 (alexnet.stop)
            return int(args.func(args) or 0)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, ImportError, DownloadError,
            DiskFull) as e:
        # Errors the user can fix (a path, an option, a missing optional package) print as one
        # line; ALEXNET_DEBUG=1 shows the traceback.
        if os.environ.get("ALEXNET_DEBUG"):
            raise
        print(f"alexnet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"alexnet {args.command}: {e or 'interrupted'}", file=sys.stderr)
        return 130
    finally:
        if args.offline and offline_before is None:   # main() called in-process (tests, scripts) leaves no trace
            del os.environ[OFFLINE_ENV]
        elif args.offline:
            os.environ[OFFLINE_ENV] = offline_before


if __name__ == "__main__":
    sys.exit(main())
