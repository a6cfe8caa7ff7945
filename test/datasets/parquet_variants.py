"""Writes Parquet files that exercise mloop's columnar scanner, with pyarrow, into a folder.

    python3 test/datasets/parquet_variants.py <out-dir>

Prints a JSON object {name: {"path", "fast"}} where "fast" says whether the scanner should decode the file
itself (False: it must hand the file to the generic reader). Deterministic (seeded).
"""
import datetime
import decimal
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

out = sys.argv[1]
rng = np.random.default_rng(7)
N = 5003  # not a multiple of 8: the last bit-packed group is partial


def with_nulls(values, share, pa_type):
    mask = rng.random(N) < share
    return pa.array([None if m else v for v, m in zip(values, mask)], type=pa_type)


def with_nulls_n(values, share, pa_type):
    mask = rng.random(len(values)) < share
    return pa.array([None if m else v for v, m in zip(values, mask)], type=pa_type)


cities = ["SEA", "SFO", "JFK", "ORD", "  ", "NA", "12", "Zürich", "東京", ""]
table = pa.table({
    "i32": with_nulls(rng.integers(-2**31, 2**31 - 1, N).tolist(), 0.1, pa.int32()),
    "i64": pa.array(rng.integers(-2**62, 2**62, N).tolist(), type=pa.int64()),
    "i64_small": with_nulls(rng.integers(-50, 50, N).tolist(), 0.3, pa.int64()),
    "i8": pa.array(rng.integers(-128, 127, N).tolist(), type=pa.int8()),
    "u32": pa.array(rng.integers(0, 2**32 - 1, N).tolist(), type=pa.uint32()),
    "u64": pa.array(rng.integers(0, 2**63, N, dtype=np.uint64).tolist(), type=pa.uint64()),
    "f32": with_nulls(rng.normal(0, 1e3, N).astype(np.float32).tolist(), 0.05, pa.float32()),
    "f64": pa.array([float("nan") if i % 97 == 0 else float("inf") if i % 101 == 0 else -0.0 if i % 103 == 0 else x for i, x in enumerate(rng.normal(5, 2, N))], type=pa.float64()),
    "f64_nulls": with_nulls(rng.normal(-1, 3, N).tolist(), 0.5, pa.float64()),
    "all_null": pa.array([None] * N, type=pa.float64()),
    "flag": with_nulls((rng.random(N) < 0.3).tolist(), 0.2, pa.bool_()),
    "flag_required": pa.array((rng.random(N) < 0.6).tolist(), type=pa.bool_()),
    "city": with_nulls([cities[i] for i in rng.integers(0, len(cities), N)], 0.15, pa.string()),
    "id": pa.array([f"row-{i}-{rng.integers(0, 10**9)}" for i in range(N)], type=pa.string()),
    "day": with_nulls([datetime.date(1960, 1, 1) + datetime.timedelta(days=int(d)) for d in rng.integers(0, 40000, N)], 0.1, pa.date32()),
    "ts_ms": pa.array(rng.integers(-10**12, 4 * 10**12, N), type=pa.timestamp("ms")),
    "ts_us": with_nulls(rng.integers(-10**15, 4 * 10**15, N).tolist(), 0.1, pa.timestamp("us", tz="UTC")),
    "ts_ns": pa.array(rng.integers(-10**18, 4 * 10**18, N), type=pa.timestamp("ns")),
    "dec": pa.array([decimal.Decimal(int(x)) / 100 for x in rng.integers(-10**6, 10**6, N)], type=pa.decimal128(9, 2)),
})
files = {}


def write(name, fast, **options):
    path = os.path.join(out, name + ".parquet")
    pq.write_table(options.pop("table", table), path, **options)
    files[name] = {"path": path, "fast": fast}


for codec in ["NONE", "SNAPPY", "GZIP", "BROTLI", "ZSTD", "LZ4"]:
    for version in ["1.0", "2.0"]:
        # hyparquet-compressors' LZ4 cannot inflate an empty page (the all-null column), so the generic reader
        # the scanner is compared with fails there: LZ4 files go without it
        write(f"{codec.lower()}-v{version[0]}", True, table=table.drop_columns(["all_null"]) if codec == "LZ4" else table, compression=codec, data_page_version=version, row_group_size=2000,
              data_page_size=4096, dictionary_pagesize_limit=2048, store_decimal_as_integer=True,
              use_dictionary=[c for c in table.column_names if c != "id"])
# the dictionary overflows part-way: later pages of a chunk are PLAIN
write("dictionary-overflow", True, compression="SNAPPY", dictionary_pagesize_limit=64, data_page_size=1024, store_decimal_as_integer=True)
# more than the profile's 100,000 exact values: integer columns whose dictionary pages the profile takes as counts,
# picking the reservoir's values by position (issue 16); pages of different sizes, repeated runs among bit-packed
# ones, nulls, zeros, integers up to ±2^26 (sums past 2^53 in a page) and, in one column, a later row group whose
# dictionary holds a non-integer (then value by value)
M = 160_001
runs = np.repeat(rng.integers(-300, 300, M // 40 + 1), 40)[:M]
noisy = np.where(rng.random(M) < 0.5, runs, rng.integers(-1000, 1000, M))
wide = rng.choice(np.array([0, 1, -7, 2**26, -(2**26), 12345678, 2**25 + 3]), M)
mixed = rng.integers(-20, 20, M).astype(np.float64)
mixed[130_000] = 0.5
write("counted-ints", True, table=pa.table({
    "runs": with_nulls_n(noisy.tolist(), 0.05, pa.int64()),
    "wide": pa.array(wide.tolist(), type=pa.int64()),
    "small": pa.array(rng.integers(0, 3, M).tolist(), type=pa.int32()),
    "mixed": pa.array(mixed.tolist(), type=pa.float64()),
}), compression="ZSTD", row_group_size=40_000, data_page_size=16_384)
# what the scanner hands to the generic reader
write("delta-encoded", False, table=table.select(["i32", "i64", "city"]), use_dictionary=False,
      column_encoding={"i32": "DELTA_BINARY_PACKED", "i64": "DELTA_BINARY_PACKED", "city": "DELTA_LENGTH_BYTE_ARRAY"})
write("nested", False, table=pa.table({"x": pa.array(range(N)), "tags": pa.array([[i, i + 1] if i % 3 else None for i in range(N)])}))
write("decimal-bytes", False, table=table.select(["i32", "dec"]))
# GeoParquet: a WKB column named in the file's "geo" metadata (hyparquet marks it GEOMETRY; the scanner leaves it)
import struct
points = [struct.pack("<BIdd", 1, 1, float(x), float(y)) for x, y in rng.normal(0, 90, (N, 2))]
geo = pa.table({"x": pa.array(range(N)), "geom": pa.array(points, type=pa.binary())})
geo = geo.replace_schema_metadata({"geo": json.dumps({"version": "1.1.0", "primary_column": "geom", "columns": {"geom": {
    "encoding": "WKB", "geometry_types": ["Point"], "crs": {"id": {"authority": "EPSG", "code": 4326}}}}})})
write("geoparquet", False, table=geo)
print(json.dumps(files))
