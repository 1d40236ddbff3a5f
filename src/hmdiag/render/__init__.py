"""Formatting of results: terminal, JSON, Markdown, HTML, CI formats and plots.

Importing this package registers the views that result objects offer (``to_dict``,
``_repr_html_``) with ``hmdiag._views``.
"""

from hmdiag.render import compare_out, doctor_out, html  # noqa: F401  (they register views)
