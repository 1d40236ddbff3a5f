"""The one domain exception every layer raises; the CLI turns it into a message and exit code 2."""

from __future__ import annotations


class HmdiagError(Exception):
    """A problem with the user's input (spec, data, run file or flag).

    ``message`` says what is wrong and where (file, key or column); ``hint`` says what
    would be valid. The CLI prints both on one line each and exits with code 2.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class SpecError(HmdiagError):
    """The YAML spec is unreadable or invalid. ``problems`` holds one line per bad key."""

    def __init__(self, path: str, problems: list[str], hint: str | None = None) -> None:
        self.path = path
        self.problems = problems
        if len(problems) == 1:
            message = f"{path}: {problems[0]}"
        else:
            message = f"{path}: {len(problems)} problems\n" + "\n".join(
                f"  - {p}" for p in problems
            )
        super().__init__(message, hint)


class DataError(HmdiagError):
    """The data file is missing, unreadable or does not fit the spec."""


class RunFileError(HmdiagError):
    """A saved run (.nc) is missing, unreadable or not an ArviZ run with a posterior."""


class OutputError(HmdiagError):
    """An output path cannot be written, or would clobber a file without --force."""
