"""CDSE catalogue subscriptions over HTTP, against a real uvicorn server on 127.0.0.1: create,
Read, cumulative Ack, filters, event kinds, several subscriptions, status changes, deletion
and bad input in CDSE's error shapes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from subscription_support import BASE, OTHER, Served, served

from catalogue_samples import make_product
from eohub.model import Role

S2 = "Collection/Name eq 'SENTINEL-2'"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path, max_running=3, max_total=4) as found:
        yield found


def _s1(name: str) -> object:
    return make_product(name, collection="SENTINEL-1", platform="Sentinel-1A")


def test_create_read_and_cumulative_ack(hub: Served) -> None:
    created = hub.create({"FilterParam": S2, "SubscriptionEvent": ["created"]})
    assert created["@odata.context"] == "$metadata#OData.CSC.Subscription"
    sub_id = created["Id"]
    assert uuid.UUID(sub_id) and created["SubmissionDate"].endswith("Z")
    assert created["Status"] == "running" and created["SubscriptionEvent"] == ["created"]
    assert hub.read(sub_id) == []

    wanted = [make_product(f"SUB_S2_{i}") for i in range(3)]
    for product in wanted[:2]:
        hub.hub.catalogue.upsert([product])
    hub.hub.catalogue.upsert([_s1("SUB_S1_0")])  # does not match the filter
    hub.hub.catalogue.upsert([wanted[2]])

    notes = hub.read(sub_id, top=10)
    assert [n["ProductId"] for n in notes] == [str(p.id) for p in wanted]
    ack_ids = [n["AckId"] for n in notes]
    assert ack_ids == sorted(ack_ids) and len(set(ack_ids)) == 3
    first = notes[0]
    assert first["@odata.context"] == "$metadata#Notification/$entity"
    assert first["SubscriptionEvent"] == "created" and first["SubscriptionId"] == sub_id
    assert first["ProductName"] == wanted[0].filename
    assert first["NotificationDate"].endswith("Z")
    value = first["value"]
    assert value["Id"] == str(wanted[0].id) and value["Name"] == wanted[0].filename
    assert {"Attributes", "Assets", "Locations"} <= set(value)
    assert hub.read(sub_id) == notes[:1]  # default $top is 1; nothing was consumed

    result = hub.ack(sub_id, ack_ids[1])  # the second: it and every earlier one
    assert result == {"AckMessagesNum": 2, "CurrentQueueLength": 1, "MaxQueueLength": None}
    assert [n["AckId"] for n in hub.read(sub_id, top=10)] == [ack_ids[2]]
    again = hub.ack(sub_id, ack_ids[0])  # already acknowledged: nothing moves back
    assert again["AckMessagesNum"] == 0 and again["CurrentQueueLength"] == 1
    assert hub.ack(sub_id, ack_ids[2])["CurrentQueueLength"] == 0
    assert hub.read(sub_id, top=20) == []
    info = hub.client.get(f"{BASE}({sub_id})").json()
    assert info["LastNotificationDate"] is not None and info["AckedPosition"] == ack_ids[2]


def test_modified_and_deleted_events_with_their_filters(hub: Served) -> None:
    catalogue = hub.hub.catalogue
    product = make_product("SUB_LIFE")
    catalogue.upsert([product])
    modified = hub.create({"FilterParam": S2, "SubscriptionEvent": ["modified"]})["Id"]
    both = hub.create({"FilterParam": S2, "SubscriptionEvent": ["created", "modified"]})["Id"]
    deleted = hub.create({"FilterParam": S2, "SubscriptionEvent": ["deleted"]})["Id"]
    catalogue.upsert([make_product("SUB_LIFE", cloud_cover=1.0)])
    catalogue.upsert([make_product("SUB_NEW")])
    catalogue.upsert([_s1("SUB_S1_GONE")])
    catalogue.delete(_s1("SUB_S1_GONE").id)  # deleted, but not matching
    catalogue.delete(product.id, cause="Obsolete product or Other")

    assert [(n["SubscriptionEvent"], n["ProductId"]) for n in hub.read(modified, 10)] == [
        ("modified", str(product.id))
    ]
    assert [n["SubscriptionEvent"] for n in hub.read(both, 10)] == ["modified", "created"]
    [gone] = hub.read(deleted, 10)
    assert gone["SubscriptionEvent"] == "deleted" and gone["ProductId"] == str(product.id)
    assert gone["value"]["DeletionCause"] == "Obsolete product or Other"
    assert gone["value"]["DeletionDate"].endswith("Z") and "Attributes" in gone["value"]
    # The modification notice of a product deleted since shows it as it was deleted.
    modified_note = hub.read(modified, 10)[0]
    assert modified_note["value"]["Id"] == str(product.id)


def test_attribute_filters_are_evaluated(hub: Served) -> None:
    clear = (
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' "
        "and att/OData.CSC.DoubleAttribute/Value le 10.0)"
    )
    sub_id = hub.create({"FilterParam": f"{S2} and {clear}"})["Id"]
    hub.hub.catalogue.upsert([make_product("SUB_CLOUDY", cloud_cover=80.0)])
    hub.hub.catalogue.upsert([make_product("SUB_CLEAR", cloud_cover=2.0)])
    assert [n["value"]["Name"] for n in hub.read(sub_id, 10)] == ["SUB_CLEAR.SAFE"]


def test_several_running_subscriptions_belong_to_their_owner(hub: Served) -> None:
    ids = [hub.create({"FilterParam": S2})["Id"] for _ in range(3)]
    info = hub.client.get(f"{BASE}/Info")
    assert info.status_code == 200
    assert [s["Id"] for s in info.json()] == ids
    assert all(s["Status"] == "running" for s in info.json())
    refused = hub.client.post(BASE, json={"FilterParam": S2})
    assert refused.status_code == 409
    assert "3 running subscriptions" in refused.json()["detail"]["message"]
    paused = hub.create({"FilterParam": S2, "Status": "paused"})  # the 4th (max_total)
    over = hub.client.post(BASE, json={"FilterParam": S2, "Status": "paused"})
    assert over.status_code == 409 and "4 subscriptions" in over.json()["detail"]["message"]
    with httpx.Client(base_url=hub.url, auth=OTHER) as other:
        assert other.get(f"{BASE}/Info").json() == []
        stranger = other.get(f"{BASE}({ids[0]})/Read")
        assert stranger.status_code == 404
        assert other.delete(f"{BASE}({paused['Id']})").status_code == 404
    hub.hub.catalogue.upsert([make_product("SUB_SHARED")])
    assert all(len(hub.read(i)) == 1 for i in ids)  # every subscription sees the event


def test_status_changes_and_deletion(hub: Served) -> None:
    sub_id = hub.create({"FilterParam": S2})["Id"]
    paused = hub.client.patch(f"{BASE}({sub_id})", json={"Status": "paused"})
    assert paused.status_code == 200 and paused.json()["Status"] == "paused"
    hub.hub.catalogue.upsert([make_product("SUB_WHILE_PAUSED")])
    assert len(hub.read(sub_id, 5)) == 1  # a paused subscription is still read: nothing lost
    resumed = hub.client.patch(f"{BASE}({sub_id})", json={"Status": "running"})
    assert resumed.json()["Status"] == "running"
    cancelled = hub.client.patch(f"{BASE}({sub_id})", json={"Status": "cancelled"})
    assert cancelled.json()["Status"] == "cancelled"
    gone = hub.client.get(f"{BASE}({sub_id})/Read")
    assert gone.status_code == 404
    assert gone.json()["detail"]["message"] == f"Subscription with id {sub_id} not found."
    back = hub.client.patch(f"{BASE}({sub_id})", json={"Status": "running"})
    assert back.status_code == 422
    assert hub.client.delete(f"{BASE}({sub_id})").status_code == 204
    missing = hub.client.get(f"{BASE}({sub_id})")
    assert missing.status_code == 404 and missing.json()["detail"]["request_id"]
    assert hub.client.delete(f"{BASE}({sub_id})").status_code == 404


INVALID_BODIES: list[tuple[dict[str, object], str, str]] = [
    ({"FilterParam": "Collection/Name eq"}, "FilterParam", "value_error"),
    ({"FilterParam": "NoSuchProperty eq 3"}, "FilterParam", "value_error"),
    ({"FilterParam": ""}, "FilterParam", "string_too_short"),
    ({}, "FilterParam", "missing"),
    ({"FilterParam": S2, "SubscriptionEvent": ["born"]}, "SubscriptionEvent", "enum"),
    ({"FilterParam": S2, "SubscriptionEvent": []}, "SubscriptionEvent", "value_error"),
    ({"FilterParam": S2, "Status": "sleeping"}, "Status", "enum"),
    ({"FilterParam": S2, "Status": "cancelled"}, "Status", "value_error"),
    ({"FilterParam": S2, "NotificationEndpoint": "ftp://x"}, "NotificationEndpoint", "value_error"),
    ({"FilterParam": S2, "NotificationEndpoint": "http://:99999"}, "NotificationEndpoint",
     "value_error"),
    ({"FilterParam": 12}, "FilterParam", "string_type"),
]  # fmt: skip


def test_invalid_bodies_are_422_lists(hub: Served) -> None:
    for body, field, kind in INVALID_BODIES:
        answer = hub.client.post(BASE, json=body)
        assert answer.status_code == 422, (body, answer.text)
        items = [d for d in answer.json()["detail"] if d["loc"][:2] == ["body", field]]
        assert kind in [d["type"] for d in items] and all(d["msg"] for d in items), body
    assert hub.client.get(f"{BASE}/Info").json() == []  # none of them was stored


def test_bad_requests_get_cdse_errors_never_500(hub: Served) -> None:
    sub_id = hub.create({"FilterParam": S2})["Id"]
    hub.hub.catalogue.upsert([make_product("SUB_ONE")])
    head = hub.read(sub_id)[0]["AckId"]
    client = hub.client

    def check(answer: httpx.Response, status: int, loc: list[str] | None = None) -> None:
        assert answer.status_code == status, answer.text
        detail = answer.json()["detail"]
        if loc is None:
            assert detail["message"] and detail["request_id"]
        else:
            assert detail[0]["loc"] == loc and detail[0]["msg"]

    check(
        client.post(BASE, content=b"{not json", headers={"content-type": "application/json"}),
        422,
        ["body", 0],
    )
    check(client.post(BASE, json=["a list"]), 422, ["body"])
    check(client.post(f"{BASE}({sub_id})/Ack"), 422, ["query", "$ackid"])
    check(client.post(f"{BASE}({sub_id})/Ack", params={"$ackid": "abc"}), 422, ["query", "$ackid"])
    check(client.post(f"{BASE}({sub_id})/Ack", params={"$ackid": "0"}), 422, ["query", "$ackid"])
    check(
        client.post(f"{BASE}({sub_id})/Ack", params={"$ackid": str(head + 5)}),
        422,
        ["query", "$ackid"],
    )
    check(client.get(f"{BASE}({sub_id})/Read", params={"$top": "0"}), 422, ["query", "$top"])
    check(client.get(f"{BASE}({sub_id})/Read", params={"$top": "5000"}), 422, ["query", "$top"])
    check(client.get(f"{BASE}({sub_id})/Read", params={"$top": "x"}), 422, ["query", "$top"])
    unknown = uuid.uuid4()
    check(client.get(f"{BASE}({unknown})"), 404)
    assert client.get(f"{BASE}({unknown})").json()["detail"]["message"] == (
        f"Subscription with id {unknown} not found."
    )
    check(client.get(f"{BASE}(not-a-uuid)/Read"), 404)
    check(client.post(f"{BASE}({unknown})/Ack", params={"$ackid": "1"}), 404)
    check(client.patch(f"{BASE}({unknown})", json={"Status": "paused"}), 404)
    check(client.patch(f"{BASE}({sub_id})", json={"Status": "nap"}), 422, ["body", "Status"])
    anonymous = httpx.get(f"{hub.url}{BASE}/Info")
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    assert anonymous.json()["detail"]["message"]
    assert hub.read(sub_id) != []  # nothing above changed the subscription


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgis)]
)
def test_removing_a_user_removes_their_subscriptions(
    request: pytest.FixtureRequest, tmp_path: Path, database: str
) -> None:
    """A removed account takes its subscriptions along: nothing is pushed for it any more, and
    an account later made with the same name does not inherit them."""
    dsn = request.getfixturevalue("postgres_dsn") if database == "postgresql" else None
    with served(tmp_path, dsn) as hub:
        mine = hub.create({"FilterParam": S2})["Id"]
        theirs = httpx.post(f"{hub.url}{BASE}", json={"FilterParam": S2}, auth=OTHER)
        assert theirs.status_code == 201, theirs.text
        hub.hub.accounts.remove(OTHER[0])
        hub.hub.accounts.create(*OTHER, [Role.SEARCH])
        again = httpx.get(f"{hub.url}{BASE}/Info", auth=OTHER)
        assert again.status_code == 200 and again.json() == []
        gone = httpx.get(f"{hub.url}{BASE}({theirs.json()['Id']})", auth=OTHER)
        assert gone.status_code == 404
        assert [s["Id"] for s in hub.client.get(f"{BASE}/Info").json()] == [mine]
