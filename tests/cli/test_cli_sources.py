"""The `import` / `prepare` tables (skelcmd.cli.sources): every KIND's arguments reach its
function, the handler passes them as the table says, and `--help` imports no heavy library."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from skelcmd.cli import build_parser
from skelcmd.cli.data import PREPARERS
from skelcmd.cli.importers import IMPORTERS
from skelcmd.cli.options import add_overwrite
from skelcmd.cli.sources import Source, add_sources

CALLS: list[tuple[tuple, dict]] = []


def _recorder(first, second, out, *, class_names=None, overwrite=False, dataset="", result=""):
    CALLS.append(
        (
            (first, second, out),
            dict(class_names=class_names, overwrite=overwrite, dataset=dataset, result=result),
        )
    )
    return result


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


@pytest.mark.parametrize(
    ("command", "source"),
    [*(("import", s) for s in IMPORTERS), *(("prepare", s) for s in PREPARERS)],
    ids=lambda x: x if isinstance(x, str) else x.name,
)
def test_every_argument_of_a_kind_is_a_parameter_of_its_function(command, source):
    kind = _subparsers(_subparsers(build_parser()).choices[command]).choices[source.name]
    positional = [a.dest for a in kind._actions if not a.option_strings]
    options = {a.dest for a in kind._actions if a.option_strings and a.dest != "help"}
    options |= set(source.defaults)
    assert positional == source.positional()
    parameters = inspect.signature(source.load()).parameters
    by_position = [p for p in parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert len(by_position) >= len(positional)
    assert options <= set(parameters) - {p.name for p in by_position[: len(positional)]}
    required = {p.name for p in parameters.values() if p.default is p.empty}
    assert required <= {p.name for p in by_position[: len(positional)]} | options


def test_the_handler_passes_inputs_in_order_and_options_by_name(tmp_path, capsys):
    def options(parser):
        parser.add_argument("--classes", dest="class_names", metavar="CLASSES")
        parser.add_argument("--result", default=str(tmp_path / "out"))

    source = Source(
        "fake",
        "A fake source.",
        f"{__name__}:_recorder",
        inputs=(("first", "FIRST", None), ("second", "SECOND", None)),
        options=options,
        defaults={"dataset": "d"},
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--debug", action="store_true")  # not a parameter: left out
    kinds = parser.add_subparsers(dest="kind", required=True)
    add_sources(kinds, [source], lambda p, s: add_overwrite(p))
    CALLS.clear()
    args = parser.parse_args(["fake", "a", "b", "c", "--classes", "x.txt", "--overwrite"])
    args.handler(args)
    assert CALLS == [
        (
            ("a", "b", "c"),
            {
                "class_names": "x.txt",
                "result": str(tmp_path / "out"),
                "overwrite": True,
                "dataset": "d",
            },
        )
    ]
    assert capsys.readouterr().out == f"wrote {tmp_path / 'out'}\n"

    class Summary:
        def format(self):
            return "2 written, 1 left out"

    for result, printed in (
        ([Path("f1"), Path("f2")], "wrote f1\nwrote f2\n"),
        (Summary(), "2 written, 1 left out\n"),
    ):
        args.result = result
        args.handler(args)
        assert capsys.readouterr().out == printed


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from skelcmd.cli import main\n"
        "for argv in (['--help'], ['import', 'npz', '--help'], ['prepare', 'ntu60', '--help'],\n"
        "             ['knn', '--help'], ['pretrain', '--help'], ['demo', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = {'numpy', 'torch', 'scipy', 'matplotlib', 'yaml'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"
