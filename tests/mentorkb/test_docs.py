"""The README documents every command and every setting (the registry drives the docs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mentorkb.cli import main
from mentorkb.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_is_in_the_readme(name):
    assert f"mentorkb {name}" in README or f"| {name}" in README or f" {name} " in README.split("## Everyday use")[1]


@pytest.mark.parametrize("name", [n for n, _, _ in Settings.documented()])
def test_every_setting_is_in_the_readme_table(name):
    assert f"`{name}`" in README and f"MENTORKB_{name.upper()}" in README


def test_readme_settings_table_is_current():
    out = CliRunner().invoke(main, ["settings", "--markdown"]).output.strip()
    assert out in README, "regenerate the README table with `mentorkb settings --markdown`"


def test_help_is_instant_because_nothing_heavy_is_imported():
    code = "import sys, mentorkb.cli; print(any(m in sys.modules for m in ('torch', 'spacy', 'faiss', 'streamlit')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_importing_models_pulls_in_no_third_party_package():
    code = "import sys, models; print(sorted(m for m in ('numpy', 'torch', 'spacy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
