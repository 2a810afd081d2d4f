"""Stores as older evalkit versions wrote them, for the migration tests."""
from pathlib import Path

import duckdb

from evalkit.model import RECORD_ORDER


def as_schema_2(db: Path) -> None:
    """Make ``db`` a store as evalkit wrote it at schema 2: no collection records, no
    ``observations.evidence`` and no ``ledger.progress`` (their views and macros as they
    were, without the column)."""
    with duckdb.connect(str(db)) as con:
        for table in RECORD_ORDER:
            con.execute(f"DROP VIEW {table}")
            con.execute(f"DROP MACRO TABLE {table}_as_of")
            con.execute(f"DROP TABLE {table}_history")
        con.execute("DROP VIEW observations")
        con.execute("DROP MACRO TABLE observations_as_of")
        con.execute("ALTER TABLE observations_history DROP COLUMN evidence")
        con.execute("DROP VIEW ledger")
        con.execute("DROP MACRO TABLE ledger_as_of")
        con.execute("ALTER TABLE ledger_history DROP COLUMN progress")
        con.execute("CREATE VIEW ledger AS SELECT * FROM ledger_history")
        con.execute("CREATE MACRO ledger_as_of(v) AS TABLE SELECT * FROM ledger_history "
                    "WHERE _version <= v")
        con.execute("CREATE VIEW observations AS SELECT *, 1 AS revision "
                    "FROM observations_history")
        con.execute("CREATE MACRO observations_as_of(v) AS TABLE SELECT *, 1 AS revision "
                    "FROM observations_history WHERE _version <= v")
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
