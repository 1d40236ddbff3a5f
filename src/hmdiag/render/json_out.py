"""JSON renderer: the versioned schema from ``hmdiag.report``."""

from __future__ import annotations

import json
from typing import Any

from hmdiag.report import RunReport, report_to_dict


def dumps(document: Any) -> str:
    """Serialize a JSON-ready document with stable formatting."""
    return json.dumps(document, indent=2, allow_nan=False)


def render_report(report: RunReport) -> str:
    """One run's diagnostics as a JSON document (schema_version 1)."""
    return dumps(report_to_dict(report))
