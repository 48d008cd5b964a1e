"""Keyset cursors: opaque URL-safe tokens; anything tampered with is an InvalidQuery."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eohub.errors import InvalidQuery
from eohub.query import Cursor, SortKey

SORT = (SortKey("sensing_start", True), SortKey("cloud_cover"), SortKey("name"), SortKey("id"))


def _token(payload: object) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_round_trip_of_every_value_type() -> None:
    when = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    cursor = Cursor(SORT, (when, None, "S2A_ü*?_%", uuid.UUID(int=7)))
    token = cursor.encode()
    assert Cursor.decode(token) == cursor
    assert "=" not in token and "+" not in token and "/" not in token
    other = Cursor((SortKey("size"), SortKey("online"), SortKey("id")), (2**62, True, 1.5))
    assert Cursor.decode(other.encode()) == other


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!!",
        "not a token",
        _token(b"\xff\xfe\x00"),
        _token(b"{"),
        _token([]),
        _token("text"),
        _token({"s": [["id", 0]]}),
        _token({"v": [1]}),
        _token({"s": 5, "v": [1]}),
        _token({"s": [["id"]], "v": [1]}),
        _token({"s": [["id", 0, 1]], "v": [1]}),
        _token({"s": [], "v": []}),
        _token({"s": [["id", 0]], "v": [1, 2]}),
        _token({"s": [["id", 0]], "v": [{"t": "yesterday"}]}),
        _token({"s": [["id", 0]], "v": [{"u": "not-a-uuid"}]}),
        _token({"s": [["id", 0]], "v": [{"x": 1}]}),
        _token({"s": [["id", 0]], "v": [[1]]}),
        _token(b"[" * 100_000),
        _token(b'{"s": [["id", 0]], "v": [' + b"[" * 100_000 + b"]}"),
    ],
)
def test_tampered_tokens_are_invalid_queries(token: str) -> None:
    with pytest.raises(InvalidQuery) as info:
        Cursor.decode(token)
    assert info.value.field == "cursor"
    assert "invalid page token" in info.value.user_message


def test_a_flipped_character_never_crashes() -> None:
    token = Cursor(SORT, (datetime(2024, 1, 1, tzinfo=UTC), 3.5, "n", uuid.uuid4())).encode()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for k in range(len(token)):
        for ch in "A_z9":
            tampered = token[:k] + ch + token[k + 1 :]
            try:
                Cursor.decode(tampered)
            except InvalidQuery:
                pass
        assert all(c in alphabet for c in token)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(_token)))
def test_arbitrary_text_decodes_or_is_an_invalid_query(token: str) -> None:
    try:
        cursor = Cursor.decode(token)
    except InvalidQuery as exc:
        assert exc.field == "cursor"
    else:
        assert len(cursor.sort) == len(cursor.values) > 0
