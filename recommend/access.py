"""The one place that decides who may see what.

Rules (see README, "Visibility"):
- program: everyone reads the text.
- topics-only: everyone may know the session happened (id, date, type, people); only its participants read the text,
  and only they see topics, keyphrases or names that occur in it.
- private: only participants know it exists.
An operator viewer (explicit CLI flag) sees everything. An anonymous viewer is an ordinary programme member.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from models import Session, Viewer, Visibility


def is_participant(session: Session, viewer: Viewer) -> bool:
    """True when the viewer took part in the session."""
    return viewer.person_id is not None and viewer.person_id in session.people


def can_know_exists(session: Session, viewer: Viewer) -> bool:
    """May the viewer learn that this session exists (id, date, type, people)?"""
    if viewer.operator or session.visibility is not Visibility.PRIVATE:
        return True
    return is_participant(session, viewer)


def can_read_text(session: Session, viewer: Viewer) -> bool:
    """May the viewer read the session's text, and anything derived from it (quotes, topics, keyphrases)?"""
    if viewer.operator or session.visibility is Visibility.PROGRAM:
        return True
    return is_participant(session, viewer)


def readable(sessions: Iterable[Session], viewer: Viewer) -> list[Session]:
    """The sessions whose text the viewer may read."""
    return [s for s in sessions if can_read_text(s, viewer)]


def known(sessions: Iterable[Session], viewer: Viewer) -> list[Session]:
    """The sessions the viewer may know exist."""
    return [s for s in sessions if can_know_exists(s, viewer)]


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w-])(?:\+?\d[\d ()./-]{7,}\d)(?![\w-])")
_DATEISH = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}")


def _phone(match: re.Match[str]) -> str:
    text = match.group()
    if _DATEISH.search(text) or sum(c.isdigit() for c in text) < 9:
        return text  # dates, amounts and versions are not phone numbers
    return "[phone hidden]"


def mask_contacts(text: str) -> str:
    """Hide e-mail addresses and phone numbers inside note text (for viewers who did not take part)."""
    return _PHONE.sub(_phone, _EMAIL.sub("[email hidden]", text))


def shown_text(session: Session, viewer: Viewer, text: str) -> str:
    """The text a viewer is shown: empty when not readable, contacts masked for non-participants."""
    if not can_read_text(session, viewer):
        return ""
    if viewer.operator or is_participant(session, viewer):
        return text
    return mask_contacts(text)
