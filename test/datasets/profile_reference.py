"""Independent profile of a data file with pandas/numpy, for the unit tests to compare mloop's against.

usage: profile_reference.py <file> <format csv|jsonl|parquet> <mloop-profile.json>
Reads mloop's profile only for the histogram edges and the quantile values whose ranks it checks;
every statistic printed is computed here from the data.
"""
import json
import sys

import numpy as np
import pandas as pd

path, fmt, mloop_profile = sys.argv[1], sys.argv[2], sys.argv[3]
if fmt == "csv":
    df = pd.read_csv(path)
elif fmt == "jsonl":
    df = pd.read_json(path, lines=True)
else:
    df = pd.read_parquet(path)
ours = {c["name"]: c for c in json.load(open(mloop_profile))["columns"]}

out = {"rows": int(len(df)), "columns": {}}
for name in df.columns:
    s = df[name]
    col = {"nulls": int(s.isna().sum()), "count": int(s.notna().sum())}
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        v = s.dropna().to_numpy(dtype=float)
        col.update(
            min=float(v.min()), max=float(v.max()), mean=float(v.mean()), std=float(v.std(ddof=1)),
            quantiles={str(p): float(np.quantile(v, p)) for p in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)},
        )
        numeric = ours.get(name, {}).get("numeric")
        if numeric:
            edges = numeric["histogram"]["edges"]
            counts, _ = np.histogram(v, bins=edges)
            col["histogram"] = [int(c) for c in counts]
            # empirical CDF at each of mloop's quantile values: P(X < q) and P(X <= q)
            sv = np.sort(v)
            q = numeric["quantiles"]
            col["ranks"] = [
                [float(np.searchsorted(sv, x, "left") / len(sv)), float(np.searchsorted(sv, x, "right") / len(sv))]
                for x in q["values"]
            ]
    else:
        vc = s.dropna().astype(str).value_counts()
        col["distinct"] = int(len(vc))
        col["top"] = {str(k): int(c) for k, c in vc.head(10).items()}
    out["columns"][name] = col
json.dump(out, sys.stdout)
