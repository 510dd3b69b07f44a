"""Option helpers that several commands share: sub-commands, --overwrite, --preprocess /
--no-align, the options of `prepare`, --set KEY=VALUE, and positive integers.

Choice lists come from `skelcmd.names`, the library's own tuples; this module imports nothing
heavier, so that `skelcmd --help` stays instant.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from skelcmd.names import NONE, PREPROCESS, REFERENCE


def add_command(
    subparsers: argparse._SubParsersAction, name: str, handler: Callable | None, help: str, **kw
) -> argparse.ArgumentParser:
    """A sub-command (or a KIND of `import` / `prepare`) that runs `handler(args)`."""
    description = help.replace("%%", "%")  # `help` is %-formatted by argparse, this is not
    parser = subparsers.add_parser(name, help=help, description=description, **kw)
    parser.set_defaults(handler=handler)
    return parser


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite", action="store_true", help="replace OUT_DIR if it exists (atomically)"
    )


def add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="parallel processes (default 1)"
    )


def add_set_option(parser: argparse.ArgumentParser, help: str, flag: str = "--set") -> None:
    """A repeatable KEY=VALUE override, collected into a list (empty by default)."""
    parser.add_argument(flag, action="append", default=[], metavar="KEY=VALUE", help=help)


def add_preprocess_options(
    parser: argparse.ArgumentParser, choices: Sequence[str], default: str
) -> None:
    """--preprocess (one of `choices`, `skelcmd.names.PREPROCESS` or `IMPORT_PREPROCESS`) and
    --no-align (stored as `align`), the keyword arguments every source's function takes."""
    parser.add_argument(
        "--preprocess",
        choices=choices,
        default=default,
        help=f"normalisation (default {default}): {REFERENCE} = exactly the CMD reference's "
        "(body records in file order, the 2 of most motion, 300 frames with trailing empty "
        "frames filled by repeating, person 1's spine subtracted in every frame, rotated by "
        f"frame 0: hip->spine onto z, shoulders onto x); {PREPROCESS[1]} = bodies tracked "
        "by ID, empty frames dropped, centred and rotated by person 1's first frame"
        + (f"; {NONE} = the coordinates as given" if NONE in choices else ""),
    )
    parser.add_argument(
        "--no-align",
        dest="align",
        action="store_false",
        help="skip the centring and rotation of --preprocess: camera coordinates",
    )


def add_prepare_options(parser: argparse.ArgumentParser, benchmarks: Sequence[str]) -> None:
    """The options every `prepare` KIND shares; `benchmarks` from `skelcmd.names.BENCHMARKS`."""
    parser.add_argument(
        "--benchmark",
        nargs="+",
        choices=benchmarks,
        default=None,
        dest="benchmarks",
        help="benchmarks to write, each a data set under OUT_DIR/NAME "
        f"(default: all of {', '.join(benchmarks)})",
    )
    add_workers(parser)
    add_preprocess_options(parser, PREPROCESS, REFERENCE)
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip malformed files instead of stopping; they are listed in the summary and in "
        "OUT_DIR/prepare_report.txt",
    )
    add_overwrite(parser)
