"""The `skelcmd` command line: argument parsing and dispatch only.

One module per command group registers its commands beside their handlers: `data` (info,
show, synth, layout; `sources` holds the table of `import` / `prepare` kinds), `train`
(pretrain, convert-checkpoint, presets), `evaluate` (knn, linear, finetune, report, embed,
export) and `demo`; `options` has the option helpers they share. To add a command, add it to
its group's `register(commands)`; to add a data source, add one entry to
`skelcmd.cli.sources`.

Every handler imports its library module lazily, so `skelcmd --help` stays instant (choice
lists come from `skelcmd.names`). A `UserError` (or an OS error on a user's path) ends the run
with one paragraph and exit status 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Iterator, Sequence

from skelcmd import __version__
from skelcmd.errors import UserError

EPILOG = """\
Typical session:
  skelcmd synth data/synth                 # the built-in synthetic data set (x-sub and x-view)
  skelcmd info data/synth/xsub             # what is in it
  skelcmd show data/synth/xsub --index 5 --out sample.gif
  skelcmd import utd-mhad UTD_DIR data/utd # or another source (below), or `skelcmd prepare`
  skelcmd pretrain --config utd_mhad_cpu --out runs/utd
  skelcmd knn --checkpoint runs/utd/last.pt --data data/utd --config knn_cpu
{sources}
Run `skelcmd COMMAND --help` for the options of a command."""


def build_parser() -> argparse.ArgumentParser:
    from skelcmd.cli import data, demo, evaluate, train
    from skelcmd.cli.importers import IMPORTERS

    parser = argparse.ArgumentParser(
        prog="skelcmd",
        description="CMD: self-supervised 3D skeleton action representation learning by "
        "cross-modal mutual distillation (Mao et al., ECCV 2022).",
        epilog=EPILOG.format(sources=_sources_line(IMPORTERS, data.PREPARERS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skelcmd {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in (data, train, evaluate, demo):
        group.register(commands)
    return parser


def _sources_line(importers: Sequence, preparers: Sequence) -> str:
    import textwrap

    text = (
        f"Data sources: import {' | '.join(s.name for s in importers)}; "
        f"prepare {' | '.join(s.name for s in preparers)}."
    )
    return textwrap.fill(text, width=92, subsequent_indent="  ")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every `finally` cleans up (temporaries, locks)."""


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM in this process raises `Terminated`; forked workers
    (data loading, preparation) still end at once as by default."""
    here = os.getpid()

    def handler(signum: int, frame: object) -> None:
        if os.getpid() != here:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_error(message: str) -> None:
    """One error paragraph on stderr, naming the user's paths, never skelcmd's temporaries."""
    from skelcmd.atomic import user_text

    print(f"skelcmd: error: {user_text(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _terminate_as_interrupt():
            args.handler(args)
    except UserError as exc:
        if args.debug:
            raise
        _print_error(str(exc))
        return 2
    except BrokenPipeError:  # e.g. `skelcmd info DIR | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        if args.debug:
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # (a write outside skelcmd.atomic)
            output = exc.filename or "an output"
            _print_error(f"disk full while writing {output} ({exc.strerror}). Free some space.")
            return 2
        where = f" ({exc.filename})" if exc.filename else ""
        advice = "Check the path and its permissions"
        if exc.errno == errno.ENAMETOOLONG:  # outputs are written under a name 30 chars longer
            advice = "Give a shorter file name (skelcmd first writes under a longer one)"
        _print_error(f"{exc.strerror or exc}{where}. {advice} (run with --debug for a traceback).")
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"skelcmd: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):  # what to do next, e.g. pretrain's --resume
            print(note, file=sys.stderr)
        return 143 if terminated else 130
    return 0
