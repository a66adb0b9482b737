"""The run database's tables, and the migrations that keep old run folders readable.

A schema change adds a migration here and bumps SCHEMA_VERSION; `migrate` upgrades a database
of any earlier version in place, so that a run made by an older recursor still opens.
"""

from __future__ import annotations

import sqlite3

from recursor.errors import StoreError

SCHEMA_VERSION = 6

_V1 = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    pid          INTEGER NOT NULL,
    host         TEXT NOT NULL,
    started_at   REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    ended_at     REAL,
    end_reason   TEXT
);
CREATE TABLE nodes (
    id          INTEGER PRIMARY KEY,
    parent_id   INTEGER REFERENCES nodes(id),
    status      TEXT NOT NULL,
    idea        TEXT,               -- JSON of records.Idea; NULL for the baseline
    patch_path  TEXT,
    diff_path   TEXT,
    workspace   TEXT NOT NULL,
    created_at  REAL NOT NULL,
    decided_at  REAL,
    reason      TEXT,
    verdict     TEXT                -- JSON written by the judge
);
CREATE TABLE evaluations (
    id          INTEGER PRIMARY KEY,
    node_id     INTEGER NOT NULL REFERENCES nodes(id),
    seed        INTEGER NOT NULL,
    evaluation  TEXT NOT NULL,
    status      TEXT NOT NULL,
    value       REAL,
    metrics     TEXT NOT NULL DEFAULT '{}',
    reason      TEXT,
    started_at  REAL NOT NULL,
    finished_at REAL,
    seconds     REAL,
    job_dir     TEXT NOT NULL
);
CREATE INDEX evaluations_node ON evaluations(node_id);
-- at most one finished or running evaluation per node, seed and evaluation: nothing runs twice
CREATE UNIQUE INDEX evaluations_once ON evaluations(node_id, seed, evaluation)
    WHERE status != 'lost';
CREATE TABLE curves (
    evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
    seq           INTEGER NOT NULL,
    point         TEXT NOT NULL,     -- JSON: step, tokens, train_loss, elapsed, ...
    PRIMARY KEY (evaluation_id, seq)
);
CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      REAL NOT NULL,
    kind    TEXT NOT NULL,
    node_id INTEGER,
    message TEXT NOT NULL
);
"""

# v2: the auditor's findings, one row per check that found something on a node
_V2 = """
CREATE TABLE findings (
    id       INTEGER PRIMARY KEY,
    node_id  INTEGER NOT NULL REFERENCES nodes(id),
    seed     INTEGER,
    checker  TEXT NOT NULL,
    blocking INTEGER NOT NULL,
    message  TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '',
    at       REAL NOT NULL
);
CREATE INDEX findings_node ON findings(node_id);
"""

# v3: proposers' calls to models and agents: tokens, cost, outcome; the transcript is a file
_V3 = """
CREATE TABLE calls (
    id            INTEGER PRIMARY KEY,
    node_id       INTEGER REFERENCES nodes(id),
    created_at    REAL NOT NULL,
    proposer      TEXT NOT NULL,
    model         TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    attempt       INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost          REAL NOT NULL,
    seconds       REAL NOT NULL,
    outcome       TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    transcript    TEXT
);
CREATE INDEX calls_node ON calls(node_id);
"""

# v4: the value function's predictions, one row per look at a running experiment's curve, kept
# whether it stopped the experiment or not, so that its calibration and false stops are counted
_V4 = """
CREATE TABLE predictions (
    id            INTEGER PRIMARY KEY,
    evaluation_id INTEGER NOT NULL REFERENCES evaluations(id),
    reference_id  INTEGER NOT NULL REFERENCES evaluations(id),  -- the parent's run, same seed
    at            REAL NOT NULL,
    progress      REAL NOT NULL,
    step          INTEGER,
    predicted     REAL NOT NULL,   -- the final metric difference, candidate minus parent
    lo            REAL NOT NULL,   -- its 90% predictive interval
    hi            REAL NOT NULL,
    p_better      REAL NOT NULL,   -- probability that the candidate ends better than the parent
    risk          REAL NOT NULL,   -- the stop level in force
    decision      TEXT NOT NULL    -- continue | stop | audit (would stop; runs on to be checked)
);
CREATE INDEX predictions_eval ON predictions(evaluation_id);
"""

# v5: a look is at one seed's pair ('seed': will the candidate beat its parent on it?) or at a
# node's confirmation ('confirm': will its paired test pass? see recursor.value.futility)
_V5 = """
ALTER TABLE predictions ADD COLUMN scope TEXT NOT NULL DEFAULT 'seed';
"""

# v6: how each block of a node's patch was applied (recursor.patch.match: the rule, the lines)
_V6 = """
ALTER TABLE nodes ADD COLUMN applied TEXT;
"""

# version -> the script that reaches it from version - 1
MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6}


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION; return the version it had."""
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"this run database has schema version {found}, newer than this recursor "
            f"understands ({SCHEMA_VERSION}); upgrade recursor to open it"
        )
    for version in range(found + 1, SCHEMA_VERSION + 1):
        # one transaction per step: a migration killed half-way leaves the old version intact
        try:
            conn.executescript(
                f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version};\nCOMMIT;"
            )
        except sqlite3.OperationalError:
            conn.rollback()
            (now,) = conn.execute("PRAGMA user_version").fetchone()
            if now < version:
                raise
            # another opener (the run creating this database, `recursor status` upgrading it)
            # took this step between our reading the version and our writing: it is done
    return found
