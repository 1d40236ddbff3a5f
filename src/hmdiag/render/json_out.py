"""JSON renderer: the versioned schema from ``hmdiag.diagnose.report``."""

from __future__ import annotations

import json
from typing import Any

from hmdiag.diagnose.report import RunReport, report_to_dict


def dumps(document: Any) -> str:
    """Serialize a JSON-ready document with stable formatting."""
    return json.dumps(document, indent=2, allow_nan=False)


def render_report(report: RunReport) -> str:
    """One run's diagnostics as a JSON document (schema_version 1)."""
    return dumps(report_to_dict(report))


def error_document(error: Any, command: str) -> dict[str, Any]:
    """What ``--format json`` prints when a command exits 2 (schema ``error-v1``): the
    problem and its hint, so a CI job that saves stdout still gets a valid document."""
    from hmdiag._version import __version__

    return {
        "schema_version": 1,
        "tool": {"name": "hmdiag", "version": __version__},
        "command": command,
        "verdict": "error",
        "exit_code": 2,
        "error": {
            "type": type(error).__name__,
            "message": error.message,
            "hint": error.hint,
            "problems": list(getattr(error, "problems", None) or [error.message]),
        },
    }


def render_error(error: Any, command: str) -> str:
    """``error_document`` as JSON text."""
    return dumps(error_document(error, command))
