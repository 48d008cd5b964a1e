"""``$filter`` and ``$orderby`` of DeletedProducts -> the deleted-products query model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from eohub.errors import InvalidQuery
from eohub.protocols.dhus.odata_v1.deleted_filter import (
    parse_deleted_filter,
    parse_deleted_orderby,
)
from eohub.protocols.dhus.odata_v1.errors import ODataError
from eohub.query import SortKey
from eohub.query.deleted import DeletedFilter, NameMatch, NameMode

DAY = datetime(2024, 5, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
ID = uuid.UUID("2b17b57d-fff4-4645-b539-91f305c27c69")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Name eq 'S2A_X'", DeletedFilter(names=(NameMatch(NameMode.EQ, "S2A_X"),))),
        ("'S2A_X' eq Name", DeletedFilter(names=(NameMatch(NameMode.EQ, "S2A_X"),))),
        ("substringof('IW', Name)", DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "IW"),))),
        ("contains(Name,'IW')", DeletedFilter(names=(NameMatch(NameMode.CONTAINS, "IW"),))),
        ("startswith(Name,'S1') eq true", DeletedFilter(names=(NameMatch(NameMode.STARTS, "S1"),))),
        ("endswith(Name,'_1') ne false", DeletedFilter(names=(NameMatch(NameMode.ENDS, "_1"),))),
        (
            "tolower(Name) eq 's2a_x'",
            DeletedFilter(names=(NameMatch(NameMode.EQ, "s2a_x", ignore_case=True),)),
        ),
        (
            "startswith(toupper(Name),'S2')",
            DeletedFilter(names=(NameMatch(NameMode.STARTS, "S2", ignore_case=True),)),
        ),
        ("tolower(Name) eq 'S2A'", DeletedFilter(ids=frozenset())),  # never true
        (f"Id eq '{ID}'", DeletedFilter(ids=frozenset([ID]))),
        (f"Id eq guid'{ID}'", DeletedFilter(ids=frozenset([ID]))),
        ("Id eq 'not-a-uuid'", DeletedFilter(ids=frozenset())),
        ("DeletionDate ge datetime'2024-05-01T00:00:00'", DeletedFilter(deleted_from=DAY)),
        ("DeletionDate gt datetime'2024-05-01T00:00:00'", DeletedFilter(deleted_from=DAY + US)),
        ("DeletionDate lt datetime'2024-05-01T00:00:00'", DeletedFilter(deleted_until=DAY)),
        ("DeletionDate le datetime'2024-05-01T00:00:00'", DeletedFilter(deleted_until=DAY + US)),
        (
            "DeletionDate eq datetime'2024-05-01T00:00:00'",
            DeletedFilter(deleted_from=DAY, deleted_until=DAY + US),
        ),
        (
            "DeletionDate ge datetime'2024-05-01T00:00:00' and DeletionDate lt "
            "datetime'2024-05-02T00:00:00' and substringof('IW',Name) and startswith(Name,'S1')",
            DeletedFilter(
                names=(NameMatch(NameMode.CONTAINS, "IW"), NameMatch(NameMode.STARTS, "S1")),
                deleted_from=DAY,
                deleted_until=DAY + timedelta(days=1),
            ),
        ),
        ("true", DeletedFilter()),
    ],
)
def test_translations(text: str, expected: DeletedFilter) -> None:
    assert parse_deleted_filter(text) == expected


def test_two_ids_intersect() -> None:
    other = uuid.uuid4()
    assert parse_deleted_filter(f"Id eq '{ID}' and Id eq '{other}'").impossible
    assert not parse_deleted_filter(f"Id eq '{ID}' and Id eq '{ID}'").impossible


@pytest.mark.parametrize(
    "text",
    [
        "Name eq 'a' or Name eq 'b'",
        "not substringof('a',Name)",
        "Name ne 'a'",
        "Id ne 'a'",
        "DeletionDate ne datetime'2024-05-01T00:00:00'",
        "Size gt 3",
        "DeletionCause eq 'x'",
        "startswith(Name,'S1') eq false",
        "length(Name) eq 3",
        "substringof(Name, 'abc')",
    ],
)
def test_valid_but_unsupported_is_501(text: str) -> None:
    with pytest.raises(ODataError) as info:
        parse_deleted_filter(text)
    assert info.value.status == 501
    assert "not supported on DeletedProducts" in info.value.user_message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Nope eq 1", "unknown property 'Nope'"),
        ("Name eq 3", "text literal"),
        ("DeletionDate gt 'x'", "datetime literal"),
        ("Id eq 5", "guid literal"),
        ("startswith(Name)", "two arguments"),
        ("Name eq", "invalid $filter"),
        ("Name", "not a condition"),
    ],
)
def test_malformed_is_400(text: str, message: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        parse_deleted_filter(text)
    assert not isinstance(info.value, ODataError)
    assert message in info.value.user_message


def test_orderby() -> None:
    assert parse_deleted_orderby("DeletionDate desc, Name") == (
        SortKey("deletion_date", descending=True),
        SortKey("name"),
    )
    for raw, message in (
        ("Size", "cannot be used in $orderby"),
        ("Nope", "unknown property"),
        ("Name sideways", "Invalid $orderby"),
        ("Name, Name desc", "twice"),
    ):
        with pytest.raises(ODataError) as info:
            parse_deleted_orderby(raw)
        assert info.value.status == 400 and message in info.value.user_message
