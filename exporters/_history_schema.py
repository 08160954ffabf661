"""The one schema of the history stores (SQLite and PostgreSQL), versioned, with migrations.

``SCHEMA_VERSION`` is stored in ``im_history_meta``. Opening a store applies, in one
transaction, every migration after the stored version; a database written by a newer
version of the library is refused rather than misread. A future change appends a step
to ``MIGRATIONS`` (never edits a released one).

Tables (``{id}``, ``{blob}``, ``{float}`` are filled in per database):

- ``im_series``: one row per series: ``name``, ``tags`` (canonical JSON), ``kind``,
  and ``model_name``/``version`` copied out of the tags for filtering.
- ``im_rollups``: one row per series, resolution (60 s, or 3600 s once downsampled),
  bucket start (Unix seconds) and writer: ``count``, ``total``, ``minimum``,
  ``maximum`` and the ``sketch`` (``metrics_core.codec``); a counter row has only
  ``total`` (its increment). The primary key starts with (resolution, bucket), so
  pruning by time is an index range scan.
- ``im_rolled_hours``: the hours already downsampled into 3600 s rows.
"""

from __future__ import annotations

SCHEMA_VERSION = 1
"""The schema version this library writes and reads."""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE IF NOT EXISTS im_series (
            id {id},
            name TEXT NOT NULL,
            tags TEXT NOT NULL,
            kind TEXT NOT NULL,
            model_name TEXT,
            version TEXT,
            UNIQUE (name, tags)
        )""",
        "CREATE INDEX IF NOT EXISTS im_series_version ON im_series (model_name, version)",
        """CREATE TABLE IF NOT EXISTS im_rollups (
            resolution INTEGER NOT NULL,
            bucket BIGINT NOT NULL,
            series_id BIGINT NOT NULL REFERENCES im_series (id),
            writer TEXT NOT NULL,
            count BIGINT,
            total {float} NOT NULL,
            minimum {float},
            maximum {float},
            sketch {blob},
            PRIMARY KEY (resolution, bucket, series_id, writer)
        )""",
        "CREATE INDEX IF NOT EXISTS im_rollups_series"
        " ON im_rollups (series_id, resolution, bucket)",
        "CREATE TABLE IF NOT EXISTS im_rolled_hours (hour BIGINT PRIMARY KEY)",
    ),
}
"""The statements that bring a database from the previous version to each version."""

META_TABLE = (
    "CREATE TABLE IF NOT EXISTS im_history_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
)


class SchemaError(RuntimeError):
    """The database holds a schema this library cannot read (a newer version)."""


def pending_migrations(stored: int, target: int = SCHEMA_VERSION) -> list[int]:
    """The versions to apply, in order, to bring ``stored`` to ``target``."""
    if stored > target:
        raise SchemaError(
            f"history schema version {stored} is newer than this library's {target}:"
            " upgrade inference-metrics"
        )
    return [version for version in range(stored + 1, target + 1)]
