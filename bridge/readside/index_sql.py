"""The search index's SQLite side: schema, inserting one record, compiling a query to SQL.

Pure SQLite, no archive I/O (:mod:`bridge.readside.index` keeps the index in step with the
archive). Text is tokenised in Python (:func:`bridge.readside.query.text_tokens`) and FTS5
only stores those tokens (``ascii`` tokenizer, which never splits them again).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bridge.readside.query import (
    RecordQuery,
    query_words,
    record_flag_values,
    record_party_keys,
    record_search_text,
    text_tokens,
    time_key,
    wanted_keys,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records(
    rid INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    t TEXT NOT NULL,
    conversation TEXT,
    platform TEXT,
    direction TEXT,
    kind TEXT,
    type TEXT,
    source_id TEXT,
    sha256 TEXT
);
CREATE INDEX IF NOT EXISTS records_t ON records(t, id);
CREATE INDEX IF NOT EXISTS records_conversation ON records(conversation, t, id);
CREATE INDEX IF NOT EXISTS records_id ON records(id);
CREATE TABLE IF NOT EXISTS parties(
    key TEXT NOT NULL, t TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY(key, t, rid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS flags(
    value TEXT NOT NULL, rid INTEGER NOT NULL, PRIMARY KEY(value, rid)
) WITHOUT ROWID;
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    body, tokenize='ascii', content='', detail='none', columnsize=0
);
CREATE TABLE IF NOT EXISTS segments(name TEXT PRIMARY KEY, consumed INTEGER NOT NULL);
"""


def connect(path: Path, *, bulk: bool = False) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
    if bulk:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
    else:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.executescript(_SCHEMA)
    return conn


def insert_into(conn: sqlite3.Connection, name: str, doc: dict[str, Any]) -> int:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        return 0
    t = time_key(str(doc.get("sent_at") or ""))
    cur = conn.execute(
        "INSERT OR IGNORE INTO records(id, name, t, conversation, platform, direction, kind, type, "
        "source_id, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            doc["id"],
            name,
            t,
            doc.get("conversation"),
            doc.get("platform"),
            doc.get("direction"),
            doc.get("kind"),
            doc.get("type"),
            doc.get("source_id"),
            doc.get("sha256"),
        ),
    )
    if cur.rowcount != 1:
        return 0
    rid = cur.lastrowid
    keys = record_party_keys(doc)
    if keys:
        conn.executemany(
            "INSERT OR IGNORE INTO parties(key, t, rid) VALUES (?, ?, ?)",
            [(k, t, rid) for k in keys],
        )
    flags = record_flag_values(doc)
    if flags:
        conn.executemany(
            "INSERT OR IGNORE INTO flags(value, rid) VALUES (?, ?)", [(f, rid) for f in flags]
        )
    tokens = text_tokens(record_search_text(doc))
    if tokens:
        conn.execute("INSERT INTO fts(rowid, body) VALUES (?, ?)", (rid, " ".join(tokens)))
    return 1


def fts_expression(text: str) -> str | None:
    """The FTS5 query for a ``--text`` value: every word (``word*`` a prefix) must occur."""
    words = query_words(text)
    if not words:
        return None
    return " AND ".join(f'"{w}"' + (" *" if prefix else "") for w, prefix in words)


def compile_query(query: RecordQuery) -> tuple[str, str, list[Any]]:
    """``FROM`` source, ``WHERE`` clause and parameters for ``query``.

    The most selective side table (participant, then flag, then text) drives the join, so a
    participant's month is read from its own index instead of scanning that month for everyone.
    """
    clauses: list[str] = []
    params: list[Any] = []
    since = time_key(query.since) if query.since is not None else None
    until = time_key(query.until) if query.until is not None else None
    for column in ("conversation", "platform", "kind", "direction"):
        value = getattr(query, column)
        if value is not None:
            clauses.append(f"r.{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("r.t >= ?")
        params.append(since)
    if until is not None:
        clauses.append("r.t < ?")
        params.append(until)

    subqueries: list[tuple[str, list[Any]]] = []
    if query.participant is not None:
        keys = sorted(wanted_keys(query.participant)) or [""]
        sql = f"SELECT rid FROM parties WHERE key IN ({','.join('?' * len(keys))})"
        sub_params: list[Any] = list(keys)
        if since is not None:
            sql += " AND t >= ?"
            sub_params.append(since)
        if until is not None:
            sql += " AND t < ?"
            sub_params.append(until)
        subqueries.append((sql, sub_params))
    if query.flag is not None:
        subqueries.append(("SELECT rid FROM flags WHERE value = ?", [query.flag]))
    if query.text is not None:
        expression = fts_expression(query.text)
        if expression is None:
            subqueries.append(("SELECT NULL AS rid WHERE 0", []))
        else:
            subqueries.append(("SELECT rowid AS rid FROM fts WHERE fts MATCH ?", [expression]))

    source = "records r"
    if subqueries:
        driver_sql, driver_params = subqueries[0]
        source = (
            f"(SELECT DISTINCT rid FROM ({driver_sql})) d CROSS JOIN records r ON r.rid = d.rid"
        )
        params = driver_params + params
        for sql, sub_params in subqueries[1:]:
            clauses.append(f"r.rid IN ({sql})")
            params.extend(sub_params)
    return source, " AND ".join(clauses) or "1", params
