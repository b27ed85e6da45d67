"""Secure by default: the CLI shows programme content unless told otherwise, questions are logged without
identity unless the asker opts in, contact details are masked for non-participants, and no secret is committed."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mentorkb.cli import main, to_jsonable
from mentorkb.service import KnowledgeBase
from models import Viewer

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = "2025-07-01-private"  # tests/data/kb: ana.ruiz -> ben.okafor, mentions Project Nightjar
TOPICS_ONLY = "2025-08-09-coaching"  # margaret.hale -> lena.park, salary negotiation


def cli(kb: KnowledgeBase, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--kb", str(kb.kb_dir)])
    return result.exit_code, result.stdout, result.stderr


# -- the CLI without --as is an anonymous programme member --------------------------------------------------------


def test_cli_lists_no_private_session_without_as(small_kb: KnowledgeBase, fake_env) -> None:
    code, out, _ = cli(small_kb, "sessions", "--json")
    ids = {s["id"] for s in json.loads(out)}
    assert code == 0 and PRIVATE not in ids and TOPICS_ONLY in ids and len(ids) == 3
    code, out, _ = cli(small_kb, "sessions", "--json", "--operator")
    assert PRIVATE in {s["id"] for s in json.loads(out)}


@pytest.mark.parametrize("command", ["ask", "insights"])
def test_cli_questions_do_not_reach_private_text_without_as(small_kb: KnowledgeBase, fake_env, command: str) -> None:
    code, out, _ = cli(small_kb, command, "Project Nightjar finance team", "--json")
    results = json.dumps(json.loads(out)["results"])  # the answer, without the echoed question
    assert code == 0 and "nightjar" not in results.lower() and PRIVATE not in results
    code, out, _ = cli(small_kb, command, "Project Nightjar finance team", "--json", "--operator")
    assert code == 0 and PRIVATE in json.dumps(json.loads(out)["results"])


def test_cli_show_hides_a_private_session_and_the_text_of_a_topics_only_one(small_kb: KnowledgeBase, fake_env) -> None:
    code, _, err = cli(small_kb, "show", PRIVATE)
    assert code == 2 and f"no session '{PRIVATE}'" in err
    code, out, _ = cli(small_kb, "show", TOPICS_ONLY)
    assert code == 0 and "not its text" in out and "anchoring" not in out
    code, out, _ = cli(small_kb, "show", PRIVATE, "--operator")
    assert code == 0 and "Project Nightjar" in out
    code, out, _ = cli(small_kb, "show", PRIVATE, "--as", "ben.okafor")
    assert code == 0 and "Project Nightjar" in out


# -- logged questions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ask", "insights"])
@pytest.mark.parametrize(("opt_in", "logged"), [(False, None), (True, "ben.okafor")])
def test_logged_questions_carry_identity_only_when_opted_in(
    small_kb: KnowledgeBase, kind: str, opt_in: bool, logged: str | None
) -> None:
    getattr(small_kb, kind)("budget contingency", viewer=Viewer("ben.okafor"), opt_in=opt_in)
    [row] = small_kb.store.query_log()
    assert row["kind"] == kind and row["question"] == "budget contingency" and row["asker"] == logged


@pytest.mark.parametrize("command", ["ask", "insights"])
@pytest.mark.parametrize(("flags", "logged"), [((), None), (("--opt-in",), "ben.okafor")])
def test_cli_logs_identity_only_with_opt_in(
    small_kb: KnowledgeBase, fake_env, command: str, flags: tuple[str, ...], logged: str | None
) -> None:
    code, _, err = cli(small_kb, command, "zero-based budgeting", "--as", "ben.okafor", *flags)
    assert code == 0, err
    assert [r["asker"] for r in small_kb.store.query_log()] == [logged]


def test_an_anonymous_opt_in_records_nobody(small_kb: KnowledgeBase) -> None:
    small_kb.ask("budgeting", viewer=Viewer(None), opt_in=True)
    assert [r["asker"] for r in small_kb.store.query_log()] == [None]


# -- contact details ---------------------------------------------------------------------------------------------

CONTACT_NOTE = b"""---
date: 2025-09-10
title: Budget follow-up
type: traditional
mentors: [ana.ruiz]
mentees: [ben.okafor]
---
Ana explained the contingency line again and offered more help with budgeting.
Reach Ana at ana.home@mailbox.example or on +44 20 7946 0958 about the budget.
"""
CONTACTS = ("ana.home@mailbox.example", "7946 0958")


@pytest.fixture
def contact_kb(small_kb: KnowledgeBase) -> tuple[KnowledgeBase, str]:
    report = small_kb.ingest_bytes("budget-follow-up.md", CONTACT_NOTE)
    [sid] = report.ingested
    return small_kb, sid


SURFACES: dict[str, Callable[[KnowledgeBase, str, Viewer], object]] = {
    "session reader": lambda kb, sid, v: kb.session(sid, v).text,
    "insights": lambda kb, sid, v: kb.insights("contingency budget help", viewer=v, log_question=False),
    "ask evidence": lambda kb, sid, v: kb.ask("contingency budget help", viewer=v, log_question=False, top=10),
    "session passages": lambda kb, sid, v: kb.session_passages(sid, v),
    "session list": lambda kb, sid, v: kb.sessions(v),
    "profile sessions": lambda kb, sid, v: kb.profile("ana.ruiz", v).sessions,
}
UNMASKED_BY_FACADE: set[str] = set()  # every surface masks contacts now
PATCH = "needs patch: mask_contacts in KnowledgeBase.session_passages / sessions / profile (see report)"


def _shown(surface: str, kb: KnowledgeBase, sid: str, viewer: Viewer) -> str:
    return json.dumps(to_jsonable(SURFACES[surface](kb, sid, viewer)), ensure_ascii=False)


@pytest.mark.parametrize(
    "surface",
    [
        pytest.param(s, marks=pytest.mark.xfail(strict=True, reason=PATCH)) if s in UNMASKED_BY_FACADE else s
        for s in SURFACES
    ],
)
@pytest.mark.parametrize("viewer", [Viewer(None), Viewer("lena.park")], ids=["anonymous", "non-participant"])
def test_contacts_are_masked_for_non_participants(
    contact_kb: tuple[KnowledgeBase, str], surface: str, viewer: Viewer
) -> None:
    kb, sid = contact_kb
    shown = _shown(surface, kb, sid, viewer)
    assert "Reach Ana at" in shown, "the note must be on this surface for the check to mean anything"
    assert not any(c in shown for c in CONTACTS), shown
    assert "[email hidden]" in shown and "[phone hidden]" in shown


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("viewer", [Viewer("ana.ruiz"), Viewer(None, operator=True)], ids=["participant", "operator"])
def test_participants_and_operators_see_contacts(
    contact_kb: tuple[KnowledgeBase, str], surface: str, viewer: Viewer
) -> None:
    kb, sid = contact_kb
    shown = _shown(surface, kb, sid, viewer)
    assert all(c in shown for c in CONTACTS), shown


# -- no secrets in the repository -------------------------------------------------------------------------------

SECRET_PATTERNS = {
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "OpenAI/Anthropic key": re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{32,}"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{34,}\b"),
    "password or key assigned": re.compile(
        r"(?i)\b(?:password|passwd|secret|api[_-]?key|access[_-]?token)\b\s*[:=]\s*['\"][^'\"\s]{12,}['\"]"
    ),
}
# One sample per pattern, put together at run time so this file does not trip its own check.
SAMPLES = {
    "AWS access key": "AKIA" + "Q" * 16,
    "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
    "GitHub token": "ghp_" + "a1" * 18,
    "OpenAI/Anthropic key": "sk-" + "ant-" + "x9" * 20,
    "Slack token": "xox" + "b-1234567890-abcdef",
    "Google API key": "AIza" + "B" * 35,
    "Hugging Face token": "hf_" + "Z" * 34,
    "password or key assigned": "api_key = '" + "s3cr3t" * 3 + "'",
}


def repository_files() -> list[Path]:
    """Files git would commit: tracked, plus untracked ones that are not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [ROOT / name for name in out.decode("utf-8").split("\0") if name]


def find_secrets(text: str) -> list[str]:
    """Names of the secret patterns found in a text."""
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


@pytest.mark.parametrize("name", list(SECRET_PATTERNS))
def test_the_secret_scanner_finds_each_kind(name: str) -> None:
    assert find_secrets(f"config:\n  {SAMPLES[name]}\n") == [name]


def test_no_secrets_in_the_repository() -> None:
    files = [f for f in repository_files() if f.is_file()]
    assert len(files) > 50, "git listed too few files to be this checkout"
    found = []
    for f in files:
        if f.stat().st_size > 2_000_000:
            continue
        text = f.read_bytes().decode("utf-8", errors="replace")
        found += [f"{f.relative_to(ROOT)}: {name}" for name in find_secrets(text)]
    assert not found, found
    assert not (ROOT / ".streamlit" / "secrets.toml").exists(), "keep Streamlit secrets out of the checkout"
