"""The Streamlit app through AppTest: every page renders, asking finds people, uploads become searchable,
bad files show their validation error, and what you see follows who you are."""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from models import Cluster, ClusterDetail, Evidence, Gap, ReversePotential, SessionType

PAGES = ["find", "insights", "people", "sessions", "topics", "upload"]
PRIVATE_SESSION = "2025-03-11-workload-and-burnout-check-in"  # linda.osei -> chloe.martin, visibility: private
PROGRAM_SESSION = "2025-02-04-incoterms-dap-vs-ddp"


def goto(at: AppTest, page: str) -> AppTest:
    """Switch to a page of app_pages/ and run it."""
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def act_as(at: AppTest, person_id: str | None) -> AppTest:
    """Pick an identity in the local-mode sidebar."""
    at.sidebar.selectbox(key="ui_person").set_value(person_id).run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    """Every piece of text on the page (headings, Markdown, alerts, HTML, link labels), joined."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [e.value for e in at.get("html")]
    parts += [e.value for e in at.get("page_link")]
    return "\n".join(parts)


def submit(at: AppTest, label: str) -> AppTest:
    """Press the (form submit) button with this label."""
    [button] = [b for b in at.button if b.label == label]
    button.click().run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    """Ask a question on the Find page."""
    at.text_input(key="find_q").input(question)
    return submit(at, "Find people")


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    """Upload files on the Upload page."""
    goto(at, "upload")
    at.file_uploader(key="up_files").set_value([(name, data, "application/octet-stream") for name, data in files])
    return submit(at, "Add files")


# -- every page --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_demo_kb(app, page):
    goto(app, page)
    assert app.title, f"{page} shows no title"
    assert any("LOCAL MODE" in m.value for m in app.sidebar.markdown)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_a_named_person(app, page):
    act_as(app, "chloe.martin")
    goto(app, page)
    assert app.title


def test_topics_page_works_with_or_without_the_cluster_api(app):
    from mentorkb.service import KnowledgeBase

    goto(app, "topics")
    text = shown(app)
    if hasattr(KnowledgeBase, "topics"):
        assert "Topic clusters are not available yet" not in text
    else:
        assert "Topic clusters are not available yet" in text


def _cluster(cid: str, label: str, teachers: tuple[str, ...], x: float) -> Cluster:
    return Cluster(
        cid,
        label,
        ("prompting", "chatgpt"),
        sessions=4,
        teachers=teachers,
        learners=("helena.marsh",),
        directions={"bottom-up": 3, "peer": 1},
        demand=2,
        last_activity=date(2025, 3, 20),
        x=x,
        y=-x,
    )


@pytest.fixture
def cluster_api(monkeypatch):
    """Give the facade a small cluster API, so the Topics page can be checked whatever this version has."""
    from mentorkb.service import KnowledgeBase

    genai = _cluster("c1", "prompting, chatgpt", ("priya.nair", "sam.patel"), 0.5)
    evidence = Evidence(
        PROGRAM_SESSION, date(2025, 2, 4), SessionType.TRADITIONAL, "notes/x.md", (13, 14), "DAP vs DDP"
    )
    detail = ClusterDetail(genai, (PROGRAM_SESSION,), (("2025-02", 1), ("2025-03", 3)), (evidence,))
    monkeypatch.setattr(
        KnowledgeBase,
        "topics",
        lambda self, viewer: [genai, _cluster("c2", "budget", ("helena.marsh",), -0.5)],
        raising=False,
    )
    monkeypatch.setattr(KnowledgeBase, "topic", lambda self, cid, viewer: detail, raising=False)
    monkeypatch.setattr(KnowledgeBase, "gaps", lambda self, viewer: [Gap("rust", 3, 2, ("sam.patel",))], raising=False)
    monkeypatch.delattr(KnowledgeBase, "at_risk", raising=False)
    monkeypatch.setattr(
        KnowledgeBase,
        "reverse_potential",
        lambda self, viewer: [
            ReversePotential("c1", "prompting, chatgpt", ("priya.nair",), ("helena.marsh",), 2, 7, 3)
        ],
        raising=False,
    )


def test_topics_page_shows_map_table_drill_down_and_lists(app, cluster_api):
    goto(app, "topics")
    assert app.get("arrow_vega_lite_chart") or app.get("vega_lite_chart"), "the cluster map is drawn"
    table = app.dataframe[0].value
    assert list(table["Topic"]) == ["prompting, chatgpt", "budget"]
    assert table.iloc[0]["Taught by"] == "Priya Nair, Sam Patel"
    app.selectbox(key="top_pick").set_value("c1").run()
    assert not app.exception, app.exception
    text = shown(app)
    assert "Open lines 13–14" in text and "Priya Nair" in text
    gaps = app.dataframe[-2].value
    assert gaps.iloc[0]["Topic"] == "rust" and gaps.iloc[0]["Taught by"] == "nobody"
    assert "Not available in this version of mentorkb yet." in text  # at_risk is missing here
    assert app.dataframe[-1].value.iloc[0]["Senior learners"] == "Helena Marsh"


# -- find someone ----------------------------------------------------------------------------------------------
def test_find_page_starts_with_an_explanation_not_results(app):
    assert "Ask a question to see who has taught it" in shown(app)
    assert not app.subheader


def test_asking_shows_the_single_holder_of_a_topic_first_with_cited_quotes(app):
    ask(app, "What is the difference between Incoterms DAP and DDP?")
    assert app.subheader[0].value.endswith("Henrik Dahl")
    links = [link for link in app.get("page_link") if link.value.startswith("Open line")]
    assert links, "each quote links to its lines in the Sessions page"
    assert any("<blockquote" in h.value for h in app.get("html"))


def test_relation_badge_follows_who_is_asking(app):
    act_as(app, "ravi.kapoor")  # level 4: Henrik (level 5) is a mentor for Ravi
    ask(app, "What is the difference between Incoterms DAP and DDP?")
    assert "Mentor]" in shown(app)
    act_as(app, "margaret.okonkwo")  # level 8: the same answer now comes from a more junior colleague
    assert app.subheader[0].value.endswith("Henrik Dahl")
    assert "Reverse mentor]" in shown(app)


# -- insights --------------------------------------------------------------------------------------------------
def test_insights_highlight_query_terms_in_escaped_text(app):
    goto(app, "insights")
    app.text_input(key="ins_q").input("Incoterms DDP duties")
    submit(app, "Search")
    quotes = [h.value for h in app.get("html") if "<blockquote" in h.value]
    assert quotes and any("<mark>" in q for q in quotes)
    assert "Open line" in shown(app)


# -- sessions and citations ------------------------------------------------------------------------------------
def test_a_citation_link_opens_the_session_with_those_lines_marked(app):
    app.query_params["session"] = PROGRAM_SESSION
    app.query_params["lines"] = "8-10"
    goto(app, "sessions")
    text = shown(app)
    assert "Cited lines 8–10" in text
    note = next(h.value for h in app.get("html") if 'id="cited"' in h.value)
    assert ">8</span>" in note and "rgba(255,200,0" in note


# -- identity and visibility -----------------------------------------------------------------------------------
def _session_choices(at: AppTest) -> str:
    """The labels ("date · title") of the sessions one may open on the Sessions page."""
    return "\n".join(at.selectbox(key="ses_pick").options)


@pytest.mark.parametrize(
    ("person", "sees_private"),
    [("chloe.martin", True), ("linda.osei", True), ("ben.okafor", False), (None, False)],
)
def test_a_private_session_is_listed_only_for_its_participants(app, person, sees_private):
    act_as(app, person)
    goto(app, "sessions")
    assert ("Workload check-in" in _session_choices(app)) is sees_private


def test_a_private_session_link_reads_like_an_unknown_one_for_others(app):
    act_as(app, "ben.okafor")
    app.query_params["session"] = PRIVATE_SESSION
    goto(app, "sessions")
    assert f"no session '{PRIVATE_SESSION}'" in shown(app)
    assert "Chloe said" not in shown(app)


def test_switching_identity_changes_what_the_same_link_shows(app):
    act_as(app, "chloe.martin")
    app.query_params["session"] = PRIVATE_SESSION
    goto(app, "sessions")
    assert "Chloe said she has been working most evenings" in shown(app)
    act_as(app, None)
    assert "Chloe said" not in shown(app)


# -- upload ----------------------------------------------------------------------------------------------------
NEW_NOTE = b"""---
date: 2025-05-06
title: Forklift battery swap rota
type: traditional
mentors: [thomas.reuter]
mentees: [ethan.brooks]
---
Thomas explained the forklift battery swap rota: swap at 40% charge, never below 20%, and log each swap
on the clipboard by the charging bay so the night shift knows which batteries are cooling down.
"""


def test_an_uploaded_note_is_searchable_at_once(writable_app):
    upload(writable_app, ("forklift-rota.md", NEW_NOTE))
    assert writable_app.success, shown(writable_app)
    assert not writable_app.error
    goto(writable_app, "insights")
    writable_app.text_input(key="ins_q").input("forklift battery swap")
    submit(writable_app, "Search")
    assert "Forklift battery swap rota" in shown(writable_app)


def test_a_bad_file_shows_its_validation_error_and_nothing_is_added(writable_app):
    bad = NEW_NOTE.replace(b"date: 2025-05-06", b"date: 2025-13-45")
    upload(writable_app, ("bad-date.md", bad), ("forklift-rota.md", NEW_NOTE))
    errors = [e.value for e in writable_app.error]
    assert any("bad-date.md" in e and "'date'" in e and "Fix:" in e for e in errors), errors
    assert "1 of 2 files added" in shown(writable_app)
    goto(writable_app, "sessions")
    choices = _session_choices(writable_app)
    assert choices.count("Forklift battery swap rota") == 1  # the good file only


def test_pasted_text_becomes_a_session(writable_app):
    goto(writable_app, "upload")
    writable_app.text_input(key="up_paste_title").input("Pallet wrapping tips")
    writable_app.text_area(key="up_paste_text").input("Wrap from the bottom up, three turns at the base.")
    writable_app.multiselect(key="up_paste_mentors").set_value(["thomas.reuter"])
    submit(writable_app, "Add note")
    assert writable_app.success, shown(writable_app)
    goto(writable_app, "sessions")
    assert f"{date.today()} · Pallet wrapping tips" in _session_choices(writable_app)


# -- sign-in mode ----------------------------------------------------------------------------------------------
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "id",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
}


PROVIDERS = {
    "redirect_uri": AUTH["redirect_uri"],
    "cookie_secret": AUTH["cookie_secret"],
    "google": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
    "microsoft": {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")},
}


@pytest.mark.parametrize(
    ("auth", "buttons"), [(AUTH, ["Log in"]), (PROVIDERS, ["Log in with Google", "Log in with Microsoft"])]
)
def test_with_sign_in_configured_nobody_signed_in_sees_only_the_login_button(app_factory, demo_kb, auth, buttons):
    at = app_factory(demo_kb, secrets={"auth": auth}, user={"is_logged_in": False})
    assert [b.label for b in at.button] == buttons
    assert not at.text_input and not at.dataframe and not at.get("page_link")


def test_a_signed_in_roster_member_gets_the_app_as_themselves(app_factory, demo_kb):
    user = {"is_logged_in": True, "email": "chloe.martin@kestrelfreight.example", "name": "Chloe"}
    at = app_factory(demo_kb, secrets={"auth": AUTH}, user=user)
    assert any("Chloe Martin" in m.value for m in at.sidebar.markdown)
    at.query_params["session"] = PRIVATE_SESSION
    goto(at, "sessions")
    assert "Chloe said she has been working most evenings" in shown(at)


def test_a_signed_in_stranger_is_told_why_they_see_nothing(app_factory, demo_kb):
    at = app_factory(demo_kb, secrets={"auth": AUTH}, user={"is_logged_in": True, "email": "someone@elsewhere.example"})
    assert "not in the programme roster" in shown(at)
    assert [b.label for b in at.button] == ["Log out"]


# -- real models -----------------------------------------------------------------------------------------------
@pytest.mark.real
def test_with_the_real_models_a_question_finds_the_reverse_mentor(real_app):
    act_as(real_app, "margaret.okonkwo")
    real_app.text_input(key="find_q").input("Who could show me how to make short vertical videos for social media?")
    [button] = [b for b in real_app.button if b.label == "Find people"]
    button.click().run(timeout=180)
    assert not real_app.exception, real_app.exception
    assert real_app.subheader[0].value.endswith("Zoe Lindqvist")
    assert "Reverse mentor]" in shown(real_app)
