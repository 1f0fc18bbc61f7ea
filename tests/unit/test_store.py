"""The SQLite store: versioned migrations, all-or-nothing transactions, the append-only event log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from inferpipe.core.store import MIGRATIONS, SCHEMA_VERSION, AlreadyExists, Store

ARN = "arn:aws:sagemaker:us-east-1:000000000000:model/churn"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "home" / "state.db"


@pytest.fixture
def store(db: Path):  # noqa: ANN201
    s = Store(db)
    yield s
    s.close()


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


# migrations --------------------------------------------------------------------------------------
def test_a_new_database_is_migrated_to_the_current_schema(db: Path) -> None:
    assert not db.exists()
    s = Store(db)  # creates the home directory too
    assert s.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 2
    s.close()
    assert {"resources", "tags", "events", "alarms"} <= tables(db)
    assert user_version(db) == SCHEMA_VERSION
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_is_idempotent_and_keeps_the_data(db: Path) -> None:
    s = Store(db)
    s.insert("model", "churn", ARN, {"ModelName": "churn"})
    s.set_tags(ARN, [{"Key": "team", "Value": "ml"}])
    s.close()
    for _ in range(2):
        s = Store(db)
        assert s.schema_version == SCHEMA_VERSION
        rec = s.get("model", "churn")
        assert rec is not None and rec.spec == {"ModelName": "churn"}
        assert s.tags(ARN) == [{"Key": "team", "Value": "ml"}]
        assert [e["Event"] for e in s.events()] == ["Created"]  # reopening appends nothing
        s.close()


def test_an_older_database_gets_only_the_missing_migrations(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.executescript(MIGRATIONS[0])
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO resources (kind, name_key, name, arn, created, modified, spec)"
            " VALUES ('model', 'old', 'Old', 'arn-old', 1.0, 1.0, '{}')"
        )
    s = Store(db)
    assert s.schema_version == SCHEMA_VERSION
    assert "alarms" in tables(db)
    rec = s.get("model", "old")
    assert rec is not None and rec.name == "Old"
    s.close()


def test_a_newer_database_is_refused(db: Path) -> None:
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this inferpipe"):
        Store(db)


# transactions ------------------------------------------------------------------------------------
def test_an_exception_inside_a_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.insert("model", "half", ARN, {"ModelName": "half"})
        store.set_tags(ARN, [{"Key": "k", "Value": "v"}])
        raise RuntimeError("crash between the writes")
    assert store.get("model", "half") is None
    assert store.all("model") == []
    assert store.tags(ARN) == []
    assert store.events() == []
    # and the store works normally afterwards
    store.insert("model", "whole", ARN, {})
    assert store.get("model", "whole") is not None


def test_nested_transactions_commit_or_roll_back_as_one(store: Store) -> None:
    with pytest.raises(ValueError), store.transaction(), store.transaction():
        store.insert("model", "inner", ARN, {})
        raise ValueError
    assert store.get("model", "inner") is None
    with store.transaction():
        with store.transaction():
            store.insert("model", "a", ARN, {})
        store.insert("model", "b", ARN + "b", {})
    assert {r.name for r in store.all("model")} == {"a", "b"}


def test_committed_writes_are_visible_to_another_connection(store: Store, db: Path) -> None:
    store.insert("endpoint-config", "cfg", "arn-cfg", {"EndpointConfigName": "cfg"})
    other = Store(db)
    try:
        rec = other.get("endpoint-config", "cfg")
        assert rec is not None and rec.arn == "arn-cfg"
    finally:
        other.close()


# resources ---------------------------------------------------------------------------------------
def test_names_are_unique_per_kind_ignoring_case(store: Store) -> None:
    store.insert("model", "Churn", ARN, {"v": 1})
    with pytest.raises(AlreadyExists):
        store.insert("model", "churn", ARN, {"v": 2})
    rec = store.get("model", "CHURN")
    assert rec is not None and rec.name == "Churn" and rec.spec == {"v": 1}
    assert store.get("model", "churn", exact=True) is None
    assert store.get("model", "Churn", exact=True) is not None
    store.insert("endpoint-config", "churn", "arn-cfg", {})  # another kind: no clash
    assert [e["Event"] for e in store.events()] == ["Created", "Created"]  # the refused insert left no event


def test_times_have_millisecond_resolution(store: Store) -> None:
    rec = store.insert("model", "m", ARN, {})
    assert rec.created == round(rec.created, 3) and rec.modified == rec.created
    got = store.get("model", "m")
    assert got is not None and got.created == rec.created
    store.update("model", "m", status="x")
    got = store.get("model", "m")
    assert got is not None and got.modified == round(got.modified, 3) and got.modified >= got.created


def test_update_changes_only_what_is_given(store: Store) -> None:
    store.insert("endpoint", "ep", "arn-ep", {"EndpointName": "ep"}, status="Creating", state={"gen": 1})
    store.update("endpoint", "EP", state={"gen": 2})
    rec = store.get("endpoint", "ep")
    assert rec is not None
    assert (rec.status, rec.state, rec.spec, rec.failure_reason) == (
        "Creating",
        {"gen": 2},
        {"EndpointName": "ep"},
        None,
    )
    store.update("endpoint", "ep", status="Failed", failure_reason="boom")
    rec = store.get("endpoint", "ep")
    assert rec is not None and (rec.status, rec.failure_reason, rec.state) == ("Failed", "boom", {"gen": 2})


def test_delete_removes_the_resource_and_its_tags(store: Store) -> None:
    store.insert("model", "m", ARN, {})
    store.set_tags(ARN, [{"Key": "a", "Value": "1"}, {"Key": "b"}])
    assert store.tags(ARN) == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]
    assert store.delete("model", "M") is True
    assert store.get("model", "m") is None and store.tags(ARN) == []
    assert store.delete("model", "m") is False


def test_tags_upsert_keeps_order_and_delete_ignores_unknown_keys(store: Store) -> None:
    store.set_tags(ARN, [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    store.set_tags(ARN, [{"Key": "a", "Value": "3"}, {"Key": "c", "Value": "4"}])
    assert store.tags(ARN) == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}, {"Key": "c", "Value": "4"}]
    store.delete_tags(ARN, ["b", "zz"])
    assert [t["Key"] for t in store.tags(ARN)] == ["a", "c"]


# events ------------------------------------------------------------------------------------------
def test_events_are_appended_on_create_update_and_delete(store: Store) -> None:
    store.insert("endpoint", "ep", "arn-ep", {}, status="Creating")
    store.update("endpoint", "ep", state={"x": 1})  # no status change, no event: not a status change
    store.update("endpoint", "ep", status="InService")
    store.update("endpoint", "ep", status="Failed", failure_reason="container-2 did not pass the ping health check")
    store.update("endpoint", "ep", event="RolledBack", detail={"to": "blue"})
    store.record_event("endpoint", "ep", "Note", {"n": 1})
    store.delete("endpoint", "ep")
    events = store.events("endpoint", "ep")
    assert [(e["Event"], e["Detail"]) for e in events] == [
        ("Created", {"status": "Creating"}),
        ("StatusChanged", {"status": "InService"}),
        ("StatusChanged", {"status": "Failed", "failureReason": "container-2 did not pass the ping health check"}),
        ("RolledBack", {"to": "blue"}),
        ("Note", {"n": 1}),
        ("Deleted", {}),
    ]
    times = [e["Time"] for e in events]
    assert times == sorted(times)
    assert all(e["Kind"] == "endpoint" and e["Name"] == "ep" for e in events)


def test_events_filter_and_limit(store: Store) -> None:
    store.insert("model", "a", "arn-a", {})
    store.insert("model", "b", "arn-b", {})
    store.insert("endpoint-config", "a", "arn-ca", {})
    store.delete("model", "a")
    assert [(e["Kind"], e["Name"], e["Event"]) for e in store.events("model")] == [
        ("model", "a", "Created"),
        ("model", "b", "Created"),
        ("model", "a", "Deleted"),
    ]
    assert [e["Event"] for e in store.events(name="a")] == ["Created", "Created", "Deleted"]
    # the limit keeps the latest, still oldest first
    assert [(e["Kind"], e["Event"]) for e in store.events(limit=2)] == [
        ("endpoint-config", "Created"),
        ("model", "Deleted"),
    ]


def test_the_event_log_is_append_only(store: Store, db: Path) -> None:
    store.insert("model", "m", ARN, {})
    first = store.events()[0]
    store.delete("model", "m")
    store.insert("model", "m", ARN, {})
    events = store.events()
    assert events[0] == first
    assert [e["Event"] for e in events] == ["Created", "Deleted", "Created"]
    with sqlite3.connect(db) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM events ORDER BY id")]
    assert ids == sorted(ids) and len(set(ids)) == 3
