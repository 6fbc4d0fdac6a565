"""The Parquet index of a built dataset (``index.parquet``): its columns, a writer that
adds one row group per shard (so a million-sample build never holds all its metadata in
memory) and renames into place on close, and a reader of one row group at a time."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from sonicmotion.errors import SonicMotionError


def require_pyarrow():
    """pyarrow (the ``[dataset]`` extra), or a one-line error naming the extra."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise SonicMotionError("the dataset index needs pyarrow, which is not installed: "
                               "pip install 'sonicmotion[dataset]'") from None
    return pa, pq


# Columns of a ``--motions paper+distance`` build after the paper's (null on its paper samples).
DISTANCE_COLUMNS = ("start_distance", "end_distance", "closest_distance", "closest_time", "source_speed",
                    "doppler", "room")
JSON_COLUMNS = ("trajectory", "room")  # stored as JSON text: their shapes differ between samples


def index_schema(distance: bool = False):
    """Columns of ``index.parquet``: the SPEC §3 sample fields, ``trajectory`` as JSON text, ``shard``;
    with ``distance`` (a ``--motions paper+distance`` build) also :data:`DISTANCE_COLUMNS` (metres,
    seconds, m/s; ``room`` as JSON text or null)."""
    pa, _ = require_pyarrow()
    extra = [("start_distance", pa.float64()), ("end_distance", pa.float64()), ("closest_distance", pa.float64()),
             ("closest_time", pa.float64()), ("source_speed", pa.float64()), ("doppler", pa.bool_()),
             ("room", pa.string())] if distance else []
    return pa.schema([
        ("key", pa.string()), ("source_id", pa.string()), ("corpus", pa.string()), ("split", pa.string()),
        ("caption", pa.string()), ("captions", pa.list_(pa.string())), ("spatial_caption", pa.string()),
        ("caption_origin", pa.string()), ("motion", pa.string()), ("moving_parts", pa.string()),
        ("start_azimuth", pa.float64()), ("end_azimuth", pa.float64()),
        ("start_elevation", pa.float64()), ("end_elevation", pa.float64()),
        ("clockwise", pa.bool_()), ("direction", pa.string()), ("speed", pa.string()),
        ("move_start", pa.float64()), ("move_end", pa.float64()), ("seed", pa.int64()),
        ("layout", pa.string()), ("sample_rate", pa.int32()), ("num_samples", pa.int64()),
        ("trajectory", pa.string()), ("shard", pa.string()), *extra,
    ])


def rows_table(rows: list[dict[str, Any]], distance: bool = False):
    """A pyarrow table of sample metadata rows in :func:`index_schema` (``distance``: with its
    distance columns)."""
    pa, _ = require_pyarrow()
    schema = index_schema(distance)
    columns = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            value = row.get(name)
            if name in JSON_COLUMNS and value is not None:
                value = json.dumps(value, sort_keys=True)
            columns[name].append(value)
    return pa.table(columns, schema=schema)


class IndexWriter:
    """Writes ``index.parquet`` one row group (one shard) at a time; renamed into place on close.
    ``distance``: the schema with the distance columns (a ``--motions paper+distance`` build)."""

    def __init__(self, path: str | os.PathLike, distance: bool = False):
        _, pq = require_pyarrow()
        self.path = Path(path)
        self.distance = distance
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self._writer = pq.ParquetWriter(str(self._tmp), index_schema(distance))

    def write(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.write_table(rows_table(rows, self.distance))

    def write_table(self, table) -> None:
        if table.num_rows:
            self._writer.write_table(table, row_group_size=table.num_rows)

    def close(self, ok: bool = True) -> None:
        self._writer.close()
        if ok:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "IndexWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)


def iter_index(path: str | os.PathLike, columns: list[str] | None = None) -> Iterable[list[dict[str, Any]]]:
    """Rows of an index, one row group (shard) at a time."""
    pa, pq = require_pyarrow()
    if not os.path.isfile(path):
        raise SonicMotionError(f"{path}: no dataset index here (build one with 'sonicmotion dataset build')")
    try:
        handle = pq.ParquetFile(str(path))
        groups = handle.num_row_groups
    except (pa.ArrowException, OSError) as err:
        raise SonicMotionError(f"{path}: the dataset index cannot be read ({str(err).splitlines()[0]}); rebuild it "
                               "with 'sonicmotion dataset build --resume' or 'dataset merge'") from None
    for group in range(groups):
        try:
            rows = handle.read_row_group(group, columns=columns).to_pylist()
        except (pa.ArrowException, OSError) as err:
            raise SonicMotionError(f"{path}: row group {group} of the dataset index cannot be read "
                                   f"({str(err).splitlines()[0]})") from None
        yield rows
