"""The strong drift peer: the four statistics Evidently's DataDriftPreset computes on flights-3m
(normed Wasserstein for numbers, Jensen-Shannon over categories above 1,000 reference rows), in plain
pandas + scipy, nothing else. Values equal Evidently's (driftBench.py checks them to 1e-9).

    python pandas_scipy_peer.py reference.parquet current.parquet
prints {"drift_share", "columns": {name: {"method", "value", "threshold"}}, "seconds_after_imports"}.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon


def main() -> None:
    started = time.perf_counter()
    reference = pd.read_parquet(sys.argv[1])
    current = pd.read_parquet(sys.argv[2])
    assert len(reference) > 1000, "this script implements Evidently's choice above 1,000 reference rows only"
    columns = {}
    for name in reference.columns:
        ref = reference[name].replace([np.inf, -np.inf], np.nan).dropna()
        cur = current[name].replace([np.inf, -np.inf], np.nan).dropna()
        if pd.api.types.is_datetime64_any_dtype(ref):
            continue  # Evidently does not score dates
        numeric = pd.api.types.is_numeric_dtype(ref)
        if numeric and pd.concat([ref, cur]).nunique() > 5:
            value = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
            columns[name] = {"method": "Wasserstein distance (normed)", "value": float(value), "threshold": 0.1}
        else:
            r = ref.value_counts()
            c = cur.value_counts()
            keys = r.index.union(c.index)
            value = jensenshannon(r.reindex(keys, fill_value=0) / len(ref), c.reindex(keys, fill_value=0) / len(cur))
            columns[name] = {"method": "Jensen-Shannon distance", "value": float(value), "threshold": 0.1}
    share = sum(c["value"] >= c["threshold"] for c in columns.values()) / len(columns)
    json.dump({"drift_share": share, "columns": columns, "seconds_after_imports": time.perf_counter() - started}, sys.stdout)


if __name__ == "__main__":
    main()
