"""``python -m hmdiag``."""

from hmdiag.cli import main

main()
