"""User-facing input errors: one clear message, exit code 2 at the command line."""

from __future__ import annotations


class InputError(Exception):
    """Bad user input (scenario, roster or sweep file).

    The message names the file, the key path and what is allowed. The CLI prints it without a
    traceback and exits with status 2.
    """

    def __init__(self, file: str | None, key_path: str | None, message: str) -> None:
        self.file = file
        self.key_path = key_path
        self.message = message
        where = ": ".join(p for p in (file, key_path) if p)
        super().__init__(f"{where}: {message}" if where else message)
