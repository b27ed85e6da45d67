"""The people roster: `people.csv` bytes -> validated `Person`s.

Columns: id,name,email,title,level,department,joined,capacity. Only `id` and `name` are required;
`level` (experience grade, higher = more senior), `joined` (ISO date) and `capacity` (mentees at once)
may be empty. Errors name the file, the row (its line in the file, header = line 1) and the column.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from mentorkb.errors import RosterError
from models import Person

COLUMNS: tuple[str, ...] = ("id", "name", "email", "title", "level", "department", "joined", "capacity")
REQUIRED: tuple[str, ...] = ("id", "name")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_WHOLE = re.compile(r"[+-]?\d{1,9}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def read_roster(source: str, data: bytes) -> list[Person]:
    """Parse a roster CSV into people, in file order. Raises RosterError."""
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        raise RosterError(
            f"is not valid UTF-8 (byte 0x{data[exc.start]:02x} at byte offset {exc.start})",
            source=source,
            line=data.count(b"\n", 0, exc.start) + 1,
            fix="save the roster as 'CSV UTF-8'",
        ) from exc
    if "\x00" in text:
        raise RosterError("looks like a binary file (NUL byte)", source=source, fix="export the roster as CSV")
    if not text.strip():
        raise RosterError("roster is empty", source=source, fix=f"start it with the header line {','.join(COLUMNS)}")
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\x00extra")
    try:
        header = [name.strip().lower() for name in reader.fieldnames or []]
        _check_header(source, header)
        reader.fieldnames = header
        people: list[Person] = []
        first_row: dict[str, int] = {}
        for row in reader:
            person = _person(source, reader.line_num, row)
            for key, value in (("id", person.id), ("email", person.email)):
                if not value:
                    continue
                seen = first_row.setdefault(f"{key}:{value.lower()}", reader.line_num)
                if seen != reader.line_num:
                    raise RosterError(
                        f"row {reader.line_num}: {key} '{value}' is already used in row {seen}",
                        source=source,
                        line=reader.line_num,
                        field=key,
                        fix=f"give every person a unique {key}",
                    )
            people.append(person)
    except csv.Error as exc:
        raise RosterError(
            f"row {reader.line_num}: not valid CSV ({exc})",
            source=source,
            line=reader.line_num,
            fix="check the quotes in that row",
        ) from exc
    return people


def _check_header(source: str, header: list[str]) -> None:
    fix = f"the first line must name the columns: {','.join(COLUMNS)}"
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise RosterError(f"unknown column '{unknown[0]}'", source=source, line=1, field=unknown[0], fix=fix)
    for name in REQUIRED:
        if name not in header:
            raise RosterError(f"required column '{name}' is missing", source=source, line=1, field=name, fix=fix)
    repeated = [name for name in header if header.count(name) > 1]
    if repeated:
        raise RosterError(f"column '{repeated[0]}' appears twice", source=source, line=1, field=repeated[0], fix=fix)


def _person(source: str, line: int, row: dict[str, str | list[str] | None]) -> Person:
    """One validated Person from a CSV row; `line` is the row's (last) line in the file."""
    if row.get("\x00extra"):
        raise RosterError(
            f"row {line} has more fields than the header",
            source=source,
            line=line,
            fix="quote values that contain commas, or remove the extra fields",
        )
    values = {name: str(row.get(name) or "").strip() for name in COLUMNS}

    def fail(column: str, problem: str, fix: str) -> RosterError:
        return RosterError(f"row {line}: {problem}", source=source, line=line, field=column, fix=fix)

    for column in REQUIRED:
        if not values[column]:
            raise fail(column, f"'{column}' is empty", f"give every person a {column}")
    if re.search(r"\s", values["id"]):
        raise fail("id", f"id '{values['id']}' contains spaces", "use a short id without spaces, e.g. ana-ruiz")
    if values["email"] and not _EMAIL.fullmatch(values["email"]):
        raise fail("email", f"'{values['email']}' is not an email address", "write it like ana@example.org")
    whole: dict[str, int | None] = {}
    for column, fix in (
        ("level", "write the experience grade as a whole number (higher = more senior) or leave it empty"),
        ("capacity", "write how many mentees they can take at once (0 or more) or leave it empty"),
    ):
        text = values[column]
        if text and not _WHOLE.fullmatch(text):
            raise fail(column, f"{column} '{text}' is not a whole number", fix)
        whole[column] = int(text) if text else None
    if values["capacity"].startswith("-"):
        raise fail("capacity", f"capacity {values['capacity']} is negative", "write 0 or more, or leave it empty")
    joined = None
    if values["joined"]:
        if not _ISO_DATE.fullmatch(values["joined"]):
            raise fail("joined", f"'{values['joined']}' is not an ISO date", "write it as YYYY-MM-DD, e.g. 2021-09-01")
        try:
            joined = date.fromisoformat(values["joined"])
        except ValueError as exc:
            raise fail("joined", f"'{values['joined']}' is not a real date ({exc})", "check the day and month") from exc
    return Person(
        id=values["id"],
        name=values["name"],
        email=values["email"],
        title=values["title"],
        level=whole["level"],
        department=values["department"],
        joined=joined,
        capacity=whole["capacity"],
    )
