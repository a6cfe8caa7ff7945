"""The peer: Evidently's DataDriftPreset on two Parquet files; prints per-column values as JSON.

Run by driftBench.py in its own process (so its wall time and peak RSS are its own):
    python evidently_peer.py reference.parquet current.parquet
"""
import json
import re
import sys

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def main() -> None:
    reference = pd.read_parquet(sys.argv[1])
    current = pd.read_parquet(sys.argv[2])
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    columns = {}
    share = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            m = re.search(r"method=([^,]+),", metric["metric_name"])
            columns[config["column"]] = {"method": m.group(1) if m else None, "value": metric["value"], "threshold": config["threshold"]}
        elif config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    json.dump({"drift_share": share, "columns": columns}, sys.stdout)


if __name__ == "__main__":
    main()
