"""The mechanism behind `skelcmd import KIND` and `skelcmd prepare DATASET`: each data source
is one `Source` entry in a table (`skelcmd.cli.importers.IMPORTERS`,
`skelcmd.cli.data.PREPARERS`), and one handler, `run_source`, serves them all.

`run_source` imports the source's function only when the command runs (never for `--help`),
calls it with the positional inputs and OUT_DIR in order and every other argument of the KIND
as the keyword argument of the same name (an option's `dest` is the parameter's name, e.g.
`--classes` has dest `class_names`), and prints what the function returns: a path, or a list
of paths, as `wrote PATH`; a summary by its `format()`.

To add a data source, add one entry to its table, e.g. in `importers.py`

    Source(
        "openpose",
        "OpenPose JSON keypoints, one folder per clip.",
        "skelcmd.sources.pose_estimators.openpose:import_openpose",
        inputs=(("raw_dir", "RAW_DIR", "folder of <clip>/<frame>_keypoints.json"),),
        options=_openpose_options,  # a function adding its own options (omit if none)
        preprocess=NONE,  # --preprocess (default none) and --no-align; leave out for neither
    ),

`add_sources` adds OUT_DIR after the inputs, and after the source's own options the table's
shared ones (importers: --preprocess, --no-align, --overwrite; preparers: --benchmark,
--workers, ..., --overwrite). tests/cli checks that every argument of every KIND is a
parameter of its function, so a misspelt `dest` fails there, not silently.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import NamedTuple

from skelcmd.cli.options import add_command


def _no_options(parser: argparse.ArgumentParser) -> None:
    """A source without options of its own."""


class Source(NamedTuple):
    name: str  # the KIND / DATASET word on the command line
    help: str
    function: str  # "module:function", imported when the command runs
    inputs: tuple[tuple[str, str, str | None], ...] = ()  # (dest, METAVAR, help) before OUT_DIR
    options: Callable[[argparse.ArgumentParser], None] = _no_options  # its own options
    preprocess: str | None = None  # importers: the --preprocess default, or None for none
    defaults: Mapping[str, object] = MappingProxyType({})  # fixed keyword arguments

    def load(self) -> Callable:
        import importlib  # here, not at the top: `--help` stays fast

        module, name = self.function.split(":")
        return getattr(importlib.import_module(module), name)

    def positional(self) -> list[str]:
        return [dest for dest, _, _ in self.inputs] + ["out_dir"]


def run_source(source: Source, args: argparse.Namespace) -> None:
    import inspect

    function = source.load()
    positional = source.positional()
    parameters = inspect.signature(function).parameters
    keywords = {k: v for k, v in vars(args).items() if k in parameters and k not in positional}
    _print_result(function(*(getattr(args, dest) for dest in positional), **keywords))


def _print_result(result: object) -> None:
    if isinstance(result, (str, os.PathLike)):
        print(f"wrote {result}")
    elif isinstance(result, (list, tuple)):
        for item in result:
            _print_result(item)
    else:
        print(result.format())  # a summary of what was written and what was left out


def add_sources(
    kinds: argparse._SubParsersAction,
    sources: Sequence[Source],
    shared: Callable[[argparse.ArgumentParser, Source], None],
) -> None:
    """One sub-command per source: its inputs, OUT_DIR, its own options, then `shared`'s."""
    for source in sources:
        parser = add_command(kinds, source.name, partial(run_source, source), source.help)
        for dest, metavar, text in source.inputs:
            parser.add_argument(dest, metavar=metavar, help=text)
        parser.add_argument("out_dir", metavar="OUT_DIR")
        source.options(parser)
        shared(parser, source)
        parser.set_defaults(**source.defaults)
