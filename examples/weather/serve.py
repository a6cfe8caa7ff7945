"""Serve the weather classifier over HTTP with the Python standard library.

    python serve.py --model model.pkl --port 8765

GET  /health   {"status": "ok", "version": "3"}
POST /predict  {"rows": [{"date": "2015-06-01", "precipitation": 0, "temp_max": 25, "temp_min": 12, "wind": 3}]}
               -> {"predictions": ["sun"], "version": "3"}

Every prediction is appended with its inputs to logs/predictions.jsonl: the `current` data that
drift monitoring compares with the training data. mloop starts this script for the `local` target
(see mloop.yaml) and passes the registered artifact as --model.
"""
import argparse
import json
import os
import pickle
import sys
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FEATURES = ["precipitation", "temp_max", "temp_min", "wind", "month"]


def features(row: dict) -> list:
    month = date.fromisoformat(str(row["date"])[:10]).month if row.get("date") else int(row["month"])
    return [float(row["precipitation"]), float(row["temp_max"]), float(row["temp_min"]), float(row["wind"]), month]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="model.pkl")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log-dir", default="logs")
    args = parser.parse_args()

    with open(args.model, "rb") as f:
        model = pickle.load(f)
    version = os.environ.get("MLOOP_MODEL_VERSION", "dev")
    os.makedirs(args.log_dir, exist_ok=True)
    log_path = os.path.join(args.log_dir, "predictions.jsonl")
    log_lock = threading.Lock()

    import pandas as pd  # the model was fitted on a DataFrame: predict on one, with the same column names

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                return self.answer(200, {"status": "ok", "version": version, "model": args.model})
            self.answer(404, {"error": f"no route {self.path}"})

        def do_POST(self):
            if self.path != "/predict":
                return self.answer(404, {"error": f"no route {self.path}"})
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                rows = payload["rows"]
                frame = pd.DataFrame([features(r) for r in rows], columns=FEATURES)
            except (KeyError, TypeError, ValueError) as error:
                return self.answer(400, {"error": f"bad request: {error!r}; send {{\"rows\": [{{date, precipitation, temp_max, temp_min, wind}}]}}"})
            predictions = [str(p) for p in model.predict(frame)] if rows else []
            now = time.time()
            if self.headers.get("x-mloop-smoke"):  # mloop's smoke test is not traffic: keep it out of the monitoring log
                return self.answer(200, {"predictions": predictions, "version": version})
            with log_lock, open(log_path, "a", encoding="utf-8") as log:
                for row, prediction in zip(rows, predictions):
                    log.write(json.dumps({"ts": now, "version": version, **{k: row.get(k) for k in ["date", "precipitation", "temp_max", "temp_min", "wind"]}, "prediction": prediction}) + "\n")
            self.answer(200, {"predictions": predictions, "version": version})

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"weather-clf v{version} serving on http://127.0.0.1:{args.port} (model {args.model}, log {log_path})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
