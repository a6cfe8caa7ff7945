"""Evidently's own per-column drift verdicts, for test/unit/drift.evidently.test.ts.

Reads {"reference": {column: [values]}, "current": {column: [values]}} on stdin, runs Evidently's
DataDriftPreset with its defaults (the `auto` test choice mloop follows) through the legacy Report,
whose result carries Evidently's own verdict per column, and prints
{"evidently": version, "columns": {column: {"method", "value", "threshold", "drifted"}}}.
Needs evidently (0.7.23, with pandas < 3) in the python that runs it; not a CI dependency.
"""
import json
import sys

import pandas as pd
import evidently
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.report import Report


def main() -> None:
    cases = json.load(sys.stdin)
    reference = pd.DataFrame(cases["reference"])
    current = pd.DataFrame(cases["current"])
    report = Report(metrics=[DataDriftPreset()])
    report.run(reference_data=reference, current_data=current)
    columns = {}
    for metric in report.as_dict()["metrics"]:
        for name, c in (metric["result"].get("drift_by_columns") or {}).items():
            columns[name] = {"method": c["stattest_name"], "value": c["drift_score"], "threshold": c["stattest_threshold"], "drifted": bool(c["drift_detected"])}
    json.dump({"evidently": evidently.__version__, "columns": columns}, sys.stdout)


if __name__ == "__main__":
    main()
