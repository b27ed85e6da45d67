"""End to end in a real headless Chromium: start `streamlit run app.py`, ask a question, see a result card."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKES = {"MENTORKB_EMBEDDER_MODEL": "hashing", "MENTORKB_SPACY_MODEL": "simple"}


def _shots_module():
    spec = importlib.util.spec_from_file_location("make_screenshots", ROOT / "docs" / "make_screenshots.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.mark.browser
def test_a_question_in_the_browser_shows_a_result_card(demo_kb, tmp_path):
    shots = _shots_module()
    with shots.running_app(demo_kb, FAKES) as url, shots.browser() as page:
        shots.open_page(page, url, "", "Who can teach me…?")
        shots.ask(page, "What is the difference between Incoterms DAP and DDP?")
        card = page.get_by_role("heading", name="1. Henrik Dahl")
        assert card.is_visible()
        assert page.get_by_text("Open line").first.is_visible()
        path = shots.shoot(page, "find-e2e", tmp_path)
    assert path.stat().st_size > 10_000
