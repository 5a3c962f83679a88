"""User-facing errors: one line, `error: <file>: <what> (<where>)`, exit status 1."""

from __future__ import annotations


class QuantOptError(Exception):
    """Bad input from the user (a file, a flag, a config value). Tools print `str(err)` and exit 1."""

    def __init__(self, file: str | None, what: str, where: str | None = None):
        self.file, self.what, self.where = file, what, where
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"error: {self.file}: {self.what}" if self.file else f"error: {self.what}"
        return f"{text} ({self.where})" if self.where else text
