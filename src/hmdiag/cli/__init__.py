"""The ``hmdiag`` command line: thin Typer commands that read like recipes.

Exit codes: 0 healthy, 1 sampled/checked but a threshold failed, 2 bad input
(spec, data, run file or flag), 3 internal error, 130 interrupted.

``app`` holds the global options and the error guard; the commands live by group in
``basics`` (validate, fit, check, prior), ``many`` (compare, plot, report) and ``repair``
(doctor, sweep, sbc). Importing them registers them on ``app``.
"""

from __future__ import annotations

import contextlib
import os
import sys

from hmdiag.cli import basics, many, repair  # noqa: F401  (registers the commands, in this order)
from hmdiag.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: run the command, flush its output, end the process.

    Once a command has returned, everything it writes is flushed and its files are closed
    (runs are renamed into place inside the command), so the process ends with ``os._exit``
    instead of tearing down PyMC, PyTensor, numba and ArviZ, which takes about 1 s after a fit
    (1.1 s measured on mme4) and leaves nothing to write. When the command left child processes
    running (a Dask cluster, say), the normal shutdown runs so they are cleaned up.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # a message, as sys.exit("...") prints it
            print(exc.code, file=sys.stderr)
            code = 1
    for stream in (sys.stdout, sys.stderr):
        # The reader may have gone away (`hmdiag check --json | head -1`).
        with contextlib.suppress(OSError):
            stream.flush()
    import multiprocessing

    if multiprocessing.active_children():
        sys.exit(code)
    os._exit(code)
