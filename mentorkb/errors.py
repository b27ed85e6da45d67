"""Every failure mentorkb reports on purpose: one base class, one subclass per condition.

Each message says what failed, where (file, line, field) and how to fix it. The CLI
and the app translate these into user messages at their boundary; nothing else catches them.
"""

from __future__ import annotations


class MentorKBError(Exception):
    """Base of all expected mentorkb failures."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.fix = fix
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.source:
            where = self.source + (f":{self.line}" if self.line else "")
        parts = [f"{where}: " if where else ""]
        if self.field:
            parts.append(f"field '{self.field}': ")
        parts.append(self.detail)
        if self.fix:
            parts.append(f" Fix: {self.fix}")
        return "".join(parts)


class NoteFormatError(MentorKBError):
    """A source file cannot be parsed or fails validation."""


class RosterError(MentorKBError):
    """The people roster (people.csv) is malformed."""


class DuplicateSessionError(MentorKBError):
    """Two different files claim the same session id."""


class UnknownPersonError(MentorKBError):
    """A person reference (id, email or name) matches nobody in the knowledge base."""


class UnknownSessionError(MentorKBError):
    """A session id matches nothing stored (or nothing the viewer may see)."""


class StoreError(MentorKBError):
    """The knowledge-base database is missing, locked or of another schema."""


class IndexMismatchError(MentorKBError):
    """A saved vector index does not match the store or the configured embedder."""


class ModelLoadError(MentorKBError):
    """A model (embedder or spaCy pipeline) could not be loaded from its configured path or name."""


class SettingsError(MentorKBError):
    """A setting has an invalid value."""


class LockedError(MentorKBError):
    """Another process is writing to the knowledge base."""
