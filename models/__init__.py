"""Plain, typed data models shared by every stage of mentorkb.

Importing this package pulls in nothing beyond the standard library, so the
CLI stays fast and every stage can depend on it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date


class SessionType(str, enum.Enum):
    """How knowledge flows in a session."""

    TRADITIONAL = "traditional"
    REVERSE = "reverse"
    PEER = "peer"
    FLASH = "flash"
    SKILL_SWAP = "skill-swap"
    GROUP = "group"


class Visibility(str, enum.Enum):
    """Who may read a session's text."""

    PROGRAM = "program"  # everyone in the programme reads the text
    TOPICS_ONLY = "topics-only"  # everyone sees that it happened and its topics; text only for participants
    PRIVATE = "private"  # only participants know it exists


class Role(str, enum.Enum):
    """The part a person played in a session."""

    MENTOR = "mentor"  # shared knowledge
    MENTEE = "mentee"  # learned
    PARTICIPANT = "participant"  # peer / group member, nobody leads


class Relation(str, enum.Enum):
    """A candidate's seniority relative to the asker."""

    MENTOR = "mentor"
    REVERSE_MENTOR = "reverse_mentor"
    PEER = "peer"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Person:
    """Someone in the mentoring programme; `level` is experience grade (higher = more senior), never age."""

    id: str
    name: str
    email: str = ""
    title: str = ""
    level: int | None = None
    department: str = ""
    joined: date | None = None
    capacity: int | None = None  # how many mentees they can take at once; None = not stated


@dataclass(frozen=True)
class Line:
    """One line (or transcript turn) of a source file, with its 1-based line number in that file."""

    number: int
    text: str
    speaker: str | None = None  # as written in the source ("Ana Ruiz"), resolved to a person later


@dataclass(frozen=True)
class ParsedNote:
    """What a reader gets out of one source document, before people are resolved.

    `people_*` hold references exactly as written (roster id, email or full name).
    """

    source: str  # path (or "path#record") shown in citations
    date: date
    lines: tuple[Line, ...]
    title: str = ""
    type: SessionType = SessionType.PEER
    mentors: tuple[str, ...] = ()
    mentees: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()
    visibility: Visibility = Visibility.PROGRAM
    tags: tuple[str, ...] = ()
    id: str | None = None
    is_transcript: bool = False
    content_hash: str = ""
    notices: tuple[str, ...] = ()  # non-fatal remarks for the ingest report ("date taken from mtime")


@dataclass(frozen=True)
class Session:
    """A stored mentoring session with its people resolved to roster ids."""

    id: str
    date: date
    title: str
    type: SessionType
    mentors: tuple[str, ...]
    mentees: tuple[str, ...]
    participants: tuple[str, ...]
    visibility: Visibility
    tags: tuple[str, ...]
    source: str
    content_hash: str
    text: str = ""  # full body as ingested, lines joined with "\n"
    first_line: int = 1  # source line number of the first body line
    is_transcript: bool = False

    @property
    def people(self) -> tuple[str, ...]:
        """Everyone who took part, in role order, without repeats."""
        return tuple(dict.fromkeys(self.mentors + self.mentees + self.participants))

    def role_of(self, person_id: str) -> Role | None:
        """The role a person played here, or None if absent."""
        if person_id in self.mentors:
            return Role.MENTOR
        if person_id in self.mentees:
            return Role.MENTEE
        if person_id in self.participants:
            return Role.PARTICIPANT
        return None


@dataclass(frozen=True)
class Passage:
    """A quotable span of a session: its speaker (if known) and 1-based inclusive source line range."""

    session_id: str
    ordinal: int  # position within the session, 0-based
    text: str
    line_start: int
    line_end: int
    speaker: str | None = None  # roster id when resolved
    id: int | None = None  # store-assigned, stable across restarts
    topics: tuple[str, ...] = ()  # canonical topic ids


@dataclass(frozen=True)
class Topic:
    """A canonical topic with the variants that were merged into it."""

    id: str  # normalised key, e.g. "generative ai"
    label: str  # display form, e.g. "generative AI"
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """A cited quote backing a recommendation or an insight."""

    session_id: str
    date: date
    type: SessionType
    source: str
    lines: tuple[int, int]
    quote: str  # empty when the viewer may only see that the session happened (topics-only)
    title: str = ""
    speaker: str | None = None
    score: float = 0.0


@dataclass(frozen=True)
class Recommendation:
    """One ranked person for a "who can teach me X?" question."""

    person: Person
    relation: Relation
    score: float
    evidence: tuple[Evidence, ...] = ()
    topics: tuple[str, ...] = ()
    n_sessions: int = 0
    last_active: date | None = None
    at_capacity: bool = False
    suggested_format: str = ""
    skill_swap: str = ""  # hint text when the pair could swap skills


@dataclass(frozen=True)
class Insight:
    """One passage (possibly merged with adjacent ones) that answers a question."""

    session_id: str
    title: str
    date: date
    type: SessionType
    source: str
    lines: tuple[int, int]
    text: str
    score: float
    speaker: str | None = None
    topics: tuple[str, ...] = ()
    also_in: tuple[str, ...] = ()  # ids of other sessions saying nearly the same


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a roster id, an anonymous programme member (None), or an operator who sees all."""

    person_id: str | None = None
    operator: bool = False


@dataclass
class IngestReport:
    """Outcome of one ingest batch, for the CLI table and the upload page."""

    ingested: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (source, message)
    new_people: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    passages: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no file was rejected."""
        return not self.rejected


@dataclass(frozen=True)
class Cluster:
    """A topic cluster as one viewer may see it, labelled by keyphrases (or a coordinator's name), never a number."""

    id: str  # stable across re-clustering, e.g. "c7"
    label: str  # the coordinator's name when set and visible, else the top keyphrases
    keyphrases: tuple[str, ...] = ()  # most distinctive first (class-based TF-IDF over readable members)
    name: str = ""  # coordinator-given name; empty when unset or not visible to this viewer
    sessions: int = 0  # sessions the viewer may know exist (topics-only ones count)
    teachers: tuple[str, ...] = ()  # person ids, most sessions first
    learners: tuple[str, ...] = ()
    directions: dict[str, int] = field(default_factory=dict)  # top-down / bottom-up / peer -> sessions
    demand: int = 0  # logged questions matching this cluster by topic or embedding
    last_activity: date | None = None
    x: float = 0.0  # 2-D map position (PCA of the cluster centroids)
    y: float = 0.0
    merged: tuple[str, ...] = ()  # ids a coordinator merged into this one


@dataclass(frozen=True)
class ClusterDetail:
    """One cluster with its sessions, monthly trend and cited evidence passages."""

    cluster: Cluster
    session_ids: tuple[str, ...]  # newest first
    trend: tuple[tuple[str, int], ...] = ()  # ("2025-03", sessions), every month from first to last
    evidence: tuple[Evidence, ...] = ()  # passages closest to the cluster centre, one per session


@dataclass(frozen=True)
class Gap:
    """A topic people ask about that few or no people teach."""

    topic: str  # display label
    questions: int  # logged ask/insights questions on it
    asked_in_sessions: int  # readable sessions where someone asked about it (open question, mentee turn)
    askers: tuple[str, ...] = ()  # person ids (note askers, plus opted-in question askers)
    teachers: tuple[str, ...] = ()
    cluster_id: str | None = None  # nearest cluster, when one matches


@dataclass(frozen=True)
class AtRiskTopic:
    """Knowledge held by only one or two teachers."""

    topic: str
    teachers: tuple[str, ...]
    sessions: int  # sessions in which it was taught
    last_taught: date | None = None
    cluster_id: str | None = None


@dataclass(frozen=True)
class ReversePotential:
    """A cluster where juniors teach and seniors learn or ask: a reverse-mentoring opportunity."""

    cluster_id: str
    label: str
    junior_teachers: tuple[str, ...]  # teachers below the learners' median level
    senior_learners: tuple[str, ...]  # learners / askers above the teachers' median level
    teacher_level: float  # median level of the teachers
    learner_level: float  # median level of the learners and askers
    bottom_up_sessions: int = 0
