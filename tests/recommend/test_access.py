"""Visibility rules: program / topics-only / private, for participants, others, anonymous and operators."""

from __future__ import annotations

from datetime import date

import pytest

from models import Session, SessionType, Viewer, Visibility
from recommend.access import can_know_exists, can_read_text, mask_contacts, shown_text


def _s(vis: Visibility) -> Session:
    return Session(
        id="s",
        date=date(2025, 1, 1),
        title="t",
        type=SessionType.PEER,
        mentors=("ana",),
        mentees=("ben",),
        participants=("cy",),
        visibility=vis,
        tags=(),
        source="s.md",
        content_hash="h",
        text="Call me on +44 20 7946 0958 or ana@corp.example",
    )


ANA, DEE, ANON, OP = Viewer("ana"), Viewer("dee"), Viewer(None), Viewer(None, operator=True)


@pytest.mark.parametrize(
    ("vis", "viewer", "exists", "reads"),
    [
        (Visibility.PROGRAM, DEE, True, True),
        (Visibility.PROGRAM, ANON, True, True),
        (Visibility.TOPICS_ONLY, DEE, True, False),
        (Visibility.TOPICS_ONLY, ANON, True, False),
        (Visibility.TOPICS_ONLY, ANA, True, True),
        (Visibility.PRIVATE, DEE, False, False),
        (Visibility.PRIVATE, ANON, False, False),
        (Visibility.PRIVATE, Viewer("cy"), True, True),
        (Visibility.PRIVATE, OP, True, True),
    ],
)
def test_rules(vis, viewer, exists, reads):
    s = _s(vis)
    assert can_know_exists(s, viewer) is exists
    assert can_read_text(s, viewer) is reads


def test_contacts_are_masked_for_non_participants_only():
    s = _s(Visibility.PROGRAM)
    masked = shown_text(s, DEE, s.text)
    assert "ana@corp.example" not in masked and "7946" not in masked
    assert "[email hidden]" in masked and "[phone hidden]" in masked
    assert shown_text(s, ANA, s.text) == s.text


@pytest.mark.parametrize(
    "text", ["Q3 2025 budget was 120,000", "version 3.11.7", "meeting at 10:30", "date: 2025-03-14", "on 14.03.2025"]
)
def test_numbers_that_are_not_phone_numbers_stay(text):
    assert mask_contacts(text) == text
