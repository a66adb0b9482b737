"""Openers of one run database at once: the run creating it, `recursor status`, the dashboard."""

import threading

from recursor.store.schema import SCHEMA_VERSION, migrate
from recursor.store.sqlite import _connect


def _open(path, start, versions, errors):
    start.wait(timeout=60)
    conn = None
    try:
        conn = _connect(path, readonly=False)
        migrate(conn)
        versions.append(conn.execute("PRAGMA user_version").fetchone()[0])
    except Exception as e:  # noqa: BLE001 - any error is the finding
        errors.append(e)
    finally:
        if conn is not None:
            conn.close()


def test_openers_of_a_new_run_database_at_once_all_get_its_schema(tmp_path):
    """The opener that reads the version before the creator commits its schema must not try to
    create it again ('table meta already exists', seen in test_resume under load)."""
    for i in range(20):
        errors, versions = [], []
        start = threading.Barrier(4)
        threads = [threading.Thread(target=_open, args=(tmp_path / f"run{i}.db", start,
                                                        versions, errors)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert versions == [SCHEMA_VERSION] * 4
