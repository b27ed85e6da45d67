"""The people roster: a good people.csv gives typed people; a bad one names the row, the column and the fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ingest.roster import read_roster
from mentorkb.errors import RosterError
from models import Person

DATA = Path(__file__).resolve().parents[1] / "data"
HEADER = b"id,name,email,title,level,department,joined,capacity\n"


def test_good_roster() -> None:
    path = DATA / "good" / "people.csv"
    people = read_roster(str(path), path.read_bytes())
    assert people == [
        Person("ana-ruiz", "Ana Ruiz", "ana@example.org", "Staff Engineer", 6, "Platform", date(2019, 4, 1), 2),
        Person("bo-chen", "Bo Chen", "bo.chen@example.org", "Engineer", 3, "Data", None, None),
        Person("cy", "Cy Park", "", "Intern", None, "", date(2025, 1, 6), 0),
    ]


def test_only_id_and_name_are_required_and_excel_bom_is_fine() -> None:
    people = read_roster("people.csv", b"\xef\xbb\xbfName,ID\r\nAna Ruiz,ana\r\n\r\n")
    assert people == [Person("ana", "Ana Ruiz")]


def test_quoted_commas() -> None:
    [person] = read_roster("people.csv", HEADER + b'ana,"Ruiz, Ana",,"Lead, Platform",,,,\n')
    assert person.name == "Ruiz, Ana"
    assert person.title == "Lead, Platform"


@pytest.mark.parametrize(
    ("name", "problem", "line", "field"),
    [
        ("people-bad-level.csv", "row 3: level 'senior' is not a whole number", 3, "level"),
        ("people-bad-joined.csv", "row 2: '01/04/2019' is not an ISO date", 2, "joined"),
        ("people-duplicate-id.csv", "row 4: id 'ana-ruiz' is already used in row 2", 4, "id"),
        ("people-unknown-column.csv", "unknown column 'levle'", 1, "levle"),
    ],
)
def test_bad_roster_file(name: str, problem: str, line: int, field: str) -> None:
    path = DATA / "bad" / name
    with pytest.raises(RosterError) as info:
        read_roster(str(path), path.read_bytes())
    assert str(info.value).startswith(f"{path}:{line}: field '{field}': ")
    assert problem in str(info.value)
    assert info.value.fix


@pytest.mark.parametrize(
    ("row", "problem", "field"),
    [
        (b",Ana Ruiz,,,,,,\n", "'id' is empty", "id"),
        (b"ana,,,,,,,\n", "'name' is empty", "name"),
        (b"ana ruiz,Ana Ruiz,,,,,,\n", "contains spaces", "id"),
        (b"ana,Ana Ruiz,not-an-email,,,,,\n", "not an email address", "email"),
        (b"ana,Ana Ruiz,,,3.5,,,\n", "level '3.5' is not a whole number", "level"),
        (b"ana,Ana Ruiz,,,,,2021-02-30,\n", "not a real date", "joined"),
        (b"ana,Ana Ruiz,,,,,,two\n", "capacity 'two' is not a whole number", "capacity"),
        (b"ana,Ana Ruiz,,,,,,-1\n", "negative", "capacity"),
    ],
)
def test_bad_row_names_row_and_column(row: bytes, problem: str, field: str) -> None:
    with pytest.raises(RosterError) as info:
        read_roster("people.csv", HEADER + row)
    assert info.value.line == 2
    assert info.value.field == field
    assert problem in str(info.value)
    assert str(info.value).startswith("people.csv:2: ")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty"),
        (b"name,email\nAna,ana@example.org\n", "required column 'id' is missing"),
        (b"id,name,name\na,b,c\n", "appears twice"),
        (HEADER + b"ana,Ana,,,,,,,surplus\n", "more fields than the header"),
        (
            HEADER + b"ana,Ana,a@example.org,,,,,\nbo,Bo,A@example.org,,,,,\n",
            "email 'A@example.org' is already used in row 2",
        ),
        (HEADER + "ana,Ana Mu\u00f1oz,,,,,,\n".encode("latin-1"), "not valid UTF-8"),
        (HEADER + b'ana,"Ana\x00,,,,,,\n', "binary"),
    ],
)
def test_bad_roster_content(data: bytes, problem: str) -> None:
    with pytest.raises(RosterError) as info:
        read_roster("people.csv", data)
    assert problem in str(info.value)
    assert str(info.value).startswith("people.csv")
