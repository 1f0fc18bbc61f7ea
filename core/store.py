"""The record of what users created, in SQLite (WAL), with an append-only event log.
Design notes: docs/daemon.md."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _renamed(doc: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names[k]: v for k, v in doc.items() if k in names}


_OLD_VARIANT = {
    "VariantName": "name",
    "Generation": "generation",
    "DesiredInstanceCount": "desired_instance_count",
    "DesiredWeight": "desired_weight",
    "CurrentWeight": "current_weight",
    "DeployedImages": "deployed_images",
}
_OLD_IMAGE = {"SpecifiedImage": "specified", "ResolvedImage": "resolved", "ResolutionTime": "resolution_time"}


def _old_variants(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for v in variants:
        new = {"desired_instance_count": 1, "desired_weight": 1.0, "current_weight": 1.0, **_renamed(v, _OLD_VARIANT)}
        if "deployed_images" in new:
            new["deployed_images"] = [_renamed(i, _OLD_IMAGE) for i in new["deployed_images"]]
        out.append(new)
    return out


def _old_endpoint_state(old: dict[str, Any]) -> dict[str, Any]:
    new = _renamed(old, {"config": "config", "models": "models", "nextGeneration": "next_generation"})
    new["variants"] = _old_variants(old.get("variants", []))
    if old.get("lastDeploymentConfig"):
        new["last_deployment_config"] = old["lastDeploymentConfig"]
    update = old.get("update")
    if update:
        new_update = _renamed(
            update,
            {
                "config": "config",
                "models": "models",
                "policy": "policy",
                "requestedPolicy": "requested_policy",
                "phase": "phase",
                "startTime": "start_time",
                "generation": "generation",
            },
        )
        new_update["variants"] = _old_variants(update.get("variants", []))
        # The old form kept the rendered PendingDeploymentSummary; the phase's message and start
        # are all of it that is not derived from the deployment itself.
        pending = (old.get("pending") or {}).get("ProductionVariants") or [{}]
        status = (pending[0].get("VariantStatus") or [{}])[0]
        new_update["phase_message"] = status.get("StatusMessage", "")
        new_update["phase_time"] = status.get("StartTime", update.get("startTime", 0.0))
        new["update"] = new_update
    return new


def _old_transform_state(old: dict[str, Any]) -> dict[str, Any]:
    names = {"startTime": "start_time", "endTime": "end_time"}
    return _renamed(old, {**{k: k for k in ("model", "progress", "effective")}, **names})


def _typed_state(db: sqlite3.Connection) -> None:
    """Endpoint and transform-job state from the first JSON layout (camelCase engine keys beside the
    API's PascalCase ones, a rendered PendingDeploymentSummary) to the snake_case one that
    serving/state.py and batch/state.py read. The old layout is spelled out here rather than read
    through those classes: a migration must keep converting what it converted when it was written,
    and the store imports no subsystem."""
    convert = {"endpoint": _old_endpoint_state, "transform-job": _old_transform_state}
    rows = db.execute("SELECT kind, name_key, state FROM resources WHERE kind IN ('endpoint', 'transform-job')")
    for row in rows.fetchall():
        new = convert[row["kind"]](json.loads(row["state"]))
        db.execute(
            "UPDATE resources SET state = ? WHERE kind = ? AND name_key = ?",
            (json.dumps(new), row["kind"], row["name_key"]),
        )


# Each migration is SQL (statements separated by ";") or a function that rewrites rows.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    # 1: resources, tags, events
    """
    CREATE TABLE resources (
        kind TEXT NOT NULL,
        name_key TEXT NOT NULL,
        name TEXT NOT NULL,
        arn TEXT NOT NULL,
        status TEXT,
        failure_reason TEXT,
        created REAL NOT NULL,
        modified REAL NOT NULL,
        spec TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (kind, name_key)
    );
    CREATE TABLE tags (
        arn TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (arn, key)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_by_resource ON events (kind, name, id);
    """,
    # 2: local CloudWatch-shaped alarms used by deployment guardrails
    """
    CREATE TABLE alarms (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'INSUFFICIENT_DATA',
        state_reason TEXT NOT NULL DEFAULT '',
        updated REAL NOT NULL
    );
    """,
    # 3: typed endpoint and transform-job state
    _typed_state,
]

SCHEMA_VERSION = len(MIGRATIONS)


def _now() -> float:
    """Times to the millisecond, as the service keeps them (``1529870369.986``): a time a client read
    back and sends as a CreationTimeAfter filter then means exactly that instant, and resource and
    event times share one (monotonic) rounding."""
    return round(time.time(), 3)


class AlreadyExists(Exception):
    pass


class StateUnusable(RuntimeError):
    """state.db cannot be opened or written; the message says which file, why, and what to do."""


def _unusable(path: Path, exc: sqlite3.Error) -> StateUnusable:
    code = getattr(exc, "sqlite_errorname", "")
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")):
        return StateUnusable(
            f"inferpipe's state database {path} is damaged or not a database ({exc})."
            f" Move it aside (mv {path} {path}.broken) to start with an empty state, or restore a backup."
        )
    if code.startswith("SQLITE_READONLY"):
        return StateUnusable(
            f"inferpipe's state database {path} is read-only for this user ({exc})."
            f" Make it and {path.parent} writable (chmod u+w), or set INFERPIPE_HOME to another directory."
        )
    return StateUnusable(
        f"Cannot open inferpipe's state database {path} ({exc}). Check that {path.parent} and the state.db"
        " files in it are writable by this user, or set INFERPIPE_HOME to another directory."
    )


@dataclass
class Record:
    kind: str
    name: str
    arn: str
    status: str | None
    failure_reason: str | None
    created: float
    modified: float
    spec: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


def _row(r: sqlite3.Row) -> Record:
    return Record(
        kind=r["kind"],
        name=r["name"],
        arn=r["arn"],
        status=r["status"],
        failure_reason=r["failure_reason"],
        created=r["created"],
        modified=r["modified"],
        spec=json.loads(r["spec"]),
        state=json.loads(r["state"]),
    )


class Store:
    def __init__(self, path: Path) -> None:
        """Raises StateUnusable when the file is damaged, read-only or cannot be created."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise _unusable(path, exc) from None
        except StateUnusable:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        with self.transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StateUnusable(
                    f"{self._path} has schema version {version}, newer than this inferpipe ({SCHEMA_VERSION}):"
                    " upgrade inferpipe to use it"
                )
            for i in range(version, SCHEMA_VERSION):
                migration = MIGRATIONS[i]
                if callable(migration):
                    migration(self._db)
                else:
                    for statement in migration.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={i + 1}")
            if version == SCHEMA_VERSION:
                # A read-only state.db opens and reads fine; probe with a write now, so the daemon
                # refuses to start instead of failing the first call that changes something.
                self._db.execute(f"PRAGMA user_version={version}")

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:  # nested: the outer transaction commits
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # resources -----------------------------------------------------------------------------
    def insert(
        self,
        kind: str,
        name: str,
        arn: str,
        spec: dict[str, Any],
        *,
        status: str | None = None,
        state: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> Record:
        now = _now() if now is None else now
        with self.transaction() as db:
            try:
                db.execute(
                    "INSERT INTO resources (kind, name_key, name, arn, status, created, modified, spec, state)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (kind, name.lower(), name, arn, status, now, now, json.dumps(spec), json.dumps(state or {})),
                )
            except sqlite3.IntegrityError as exc:
                raise AlreadyExists(name) from exc
            self._event(db, kind, name, "Created", {"status": status} if status else {}, now)
        return Record(kind, name, arn, status, None, now, now, spec, state or {})

    def get(self, kind: str, name: str, *, exact: bool = False) -> Record | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM resources WHERE kind = ? AND name_key = ?", (kind, name.lower())
            ).fetchone()
        if row is None:
            return None
        rec = _row(row)
        if exact and rec.name != name:
            return None
        return rec

    def all(self, kind: str) -> list[Record]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM resources WHERE kind = ?", (kind,)).fetchall()
        return [_row(r) for r in rows]

    _UNSET: Any = object()

    def update(
        self,
        kind: str,
        name: str,
        *,
        status: str | None = _UNSET,
        failure_reason: str | None = _UNSET,
        state: dict[str, Any] | None = _UNSET,
        spec: dict[str, Any] | None = _UNSET,
        event: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        now = _now()
        sets: list[str] = ["modified = ?"]
        args: list[Any] = [now]
        if status is not self._UNSET:
            sets.append("status = ?")
            args.append(status)
        if failure_reason is not self._UNSET:
            sets.append("failure_reason = ?")
            args.append(failure_reason)
        if state is not self._UNSET:
            sets.append("state = ?")
            args.append(json.dumps(state))
        if spec is not self._UNSET:
            sets.append("spec = ?")
            args.append(json.dumps(spec))
        with self.transaction() as db:
            db.execute(
                f"UPDATE resources SET {', '.join(sets)} WHERE kind = ? AND name_key = ?",
                (*args, kind, name.lower()),
            )
            if status is not self._UNSET or event:
                payload = dict(detail or {})
                if status is not self._UNSET:
                    payload["status"] = status
                if failure_reason not in (self._UNSET, None):
                    payload["failureReason"] = failure_reason
                self._event(db, kind, name, event or "StatusChanged", payload, now)

    def delete(self, kind: str, name: str) -> bool:
        with self.transaction() as db:
            row = db.execute(
                "SELECT arn FROM resources WHERE kind = ? AND name_key = ?", (kind, name.lower())
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM resources WHERE kind = ? AND name_key = ?", (kind, name.lower()))
            db.execute("DELETE FROM tags WHERE arn = ?", (row["arn"],))
            self._event(db, kind, name, "Deleted", {}, _now())
        return True

    # events -------------------------------------------------------------------------------
    def _event(
        self, db: sqlite3.Connection, kind: str, name: str, event: str, detail: dict[str, Any], ts: float
    ) -> None:
        db.execute(
            "INSERT INTO events (ts, kind, name, event, detail) VALUES (?, ?, ?, ?, ?)",
            (ts, kind, name, event, json.dumps(detail)),
        )

    def record_event(self, kind: str, name: str, event: str, detail: dict[str, Any] | None = None) -> None:
        with self.transaction() as db:
            self._event(db, kind, name, event, detail or {}, _now())

    def events(self, kind: str | None = None, name: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        query = "SELECT * FROM events"
        where: list[str] = []
        args: list[Any] = []
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if name:
            where.append("name = ?")
            args.append(name)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        return [
            {
                "Time": r["ts"],
                "Kind": r["kind"],
                "Name": r["name"],
                "Event": r["event"],
                "Detail": json.loads(r["detail"]),
            }
            for r in reversed(rows)
        ]

    # tags ---------------------------------------------------------------------------------
    def set_tags(self, arn: str, tags: list[dict[str, str]]) -> None:
        with self.transaction() as db:
            for tag in tags:
                db.execute(
                    "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (arn, key) DO UPDATE SET value = excluded.value",
                    (arn, tag["Key"], tag.get("Value", "")),
                )

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys])

    def tags(self, arn: str) -> list[dict[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM tags WHERE arn = ? ORDER BY rowid", (arn,)).fetchall()
        return [{"Key": r["key"], "Value": r["value"]} for r in rows]

    # alarms -------------------------------------------------------------------------------
    def put_alarm(self, name: str, spec: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO alarms (name, spec, updated) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated = excluded.updated",
                (name, json.dumps(spec), time.time()),
            )

    def alarms(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every alarm, or the one named (a bake evaluates its alarms every tick: one row each)."""
        with self._lock:
            if name is None:
                rows = self._db.execute("SELECT * FROM alarms ORDER BY name").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM alarms WHERE name = ?", (name,)).fetchall()
        return [
            {"spec": json.loads(r["spec"]), "state": r["state"], "reason": r["state_reason"], "updated": r["updated"]}
            for r in rows
        ]

    def set_alarm_state(self, name: str, state: str, reason: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE alarms SET state = ?, state_reason = ?, updated = ? WHERE name = ?",
                (state, reason, time.time(), name),
            )

    def delete_alarms(self, names: list[str]) -> None:
        with self.transaction() as db:
            db.executemany("DELETE FROM alarms WHERE name = ?", [(n,) for n in names])
