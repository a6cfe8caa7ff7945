"""Serve the weather classifier over HTTP with the Python standard library.

    python serve.py --model model.pkl --port 8765

GET  /health   {"status": "ok", "version": "3"}
POST /predict  {"rows": [{"date": "2015-06-01", "precipitation": 0, "temp_max": 25, "temp_min": 12, "wind": 3}]}
               -> {"predictions": ["sun"], "ids": ["<request id>-0"], "version": "3"}

Every prediction is appended with its inputs to logs/predictions.jsonl: the `current` data that
drift monitoring compares with the training data. Each prediction is logged with an id (the row's `id` when the
client sends one, else the request id and the row's index; the answer returns them) and the row's `station`
when sent, and so is the probability of each class (`proba_<class>`): late labels are joined to predictions
by id, and performance is judged per station. Each line also carries the request's id (`request_id`: the gateway's
x-request-id, else one serve.py makes) and the version that answered it, so that mloop: Explain This Prediction (or
`mloop explain <target> --request <id>`) explains a logged row with that version. mloop starts this script for the `local` target
(see mloop.yaml) and passes the registered artifact as --model.

Shadow deployments: `python serve.py --log-dir logs --mirror-to URL --traffic 100` (mloop's route
command) writes logs/mirror.json and exits; from then on the serving process sends a copy of every
/predict request to URL (the shadow) after answering, and logs both predictions of each row to
logs/shadow.jsonl. `--traffic 0` turns mirroring off. The shadow's answers never reach the client,
and requests it receives as a mirror stay out of predictions.jsonl.

Every answered /predict request also gets one line in logs/serving.jsonl, the serving log mloop's service health
check reads (latency percentiles, error rate, request rate): {"ts": <ms since the epoch>, "request_id": "…",
"version": 3, "latency_ms": 2.41, "status": 200}.
"""
import argparse
import json
import os
import pickle
import random
import sys
import threading
import time
import urllib.request
import uuid
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FEATURES = ["precipitation", "temp_max", "temp_min", "wind", "month"]


def features(row: dict) -> list:
    month = date.fromisoformat(str(row["date"])[:10]).month if row.get("date") else int(row["month"])
    return [float(row["precipitation"]), float(row["temp_max"]), float(row["temp_min"]), float(row["wind"]), month]


# fields of a request row the log keeps as they came besides the inputs: where the row came from (a group that
# monitoring judges separately); the row's id is logged by the handler (the client's, or one it makes)
PASSED_THROUGH = ["station"]


def logged(row: dict) -> dict:
    """The inputs as the log keeps them: numbers as numbers (a client may send "5.6"), plus the station when sent."""
    out = {"date": row.get("date")}
    for k in FEATURES[:4]:
        try:
            out[k] = float(row[k])
        except (KeyError, TypeError, ValueError):
            out[k] = row.get(k)
    for k in PASSED_THROUGH:
        if row.get(k) is not None:
            out[k] = str(row[k])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="model.pkl")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--log-dir", default="logs")
    parser.add_argument("--mirror-to", help="route mode: mirror /predict requests to this URL, then exit")
    parser.add_argument("--traffic", type=float, default=100, help="route mode: percent of requests mirrored (0 turns mirroring off)")
    args = parser.parse_args()
    mirror_path = os.path.join(args.log_dir, "mirror.json")
    if args.mirror_to is not None:
        os.makedirs(args.log_dir, exist_ok=True)
        if args.traffic <= 0 or not args.mirror_to:
            if os.path.exists(mirror_path):
                os.remove(mirror_path)
            print("mirroring off", flush=True)
        else:
            tmp = mirror_path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"url": args.mirror_to.rstrip("/"), "percent": args.traffic}, f)
            os.replace(tmp, mirror_path)
            print(f"mirroring {args.traffic:g}% of /predict to {args.mirror_to}", flush=True)
        return

    with open(args.model, "rb") as f:
        model = pickle.load(f)
    version = os.environ.get("MLOOP_MODEL_VERSION", "dev")
    os.makedirs(args.log_dir, exist_ok=True)
    log_path = os.path.join(args.log_dir, "predictions.jsonl")
    shadow_log_path = os.path.join(args.log_dir, "shadow.jsonl")
    serving_log_path = os.path.join(args.log_dir, "serving.jsonl")
    serving_version = int(version) if version.isdigit() else None
    log_lock = threading.Lock()
    mirror_state = {"mtime": None, "config": None}

    def mirror_config():
        """The mirror set by the route command (re-read when logs/mirror.json changes)."""
        try:
            mtime = os.stat(mirror_path).st_mtime_ns
        except FileNotFoundError:
            mirror_state.update(mtime=None, config=None)
            return None
        if mtime != mirror_state["mtime"]:
            try:
                with open(mirror_path, encoding="utf-8") as f:
                    mirror_state.update(mtime=mtime, config=json.load(f))
            except (OSError, ValueError):
                return None
        return mirror_state["config"]

    def mirror(config: dict, rows: list, predictions: list, now: float) -> None:
        """Sends the rows to the shadow and logs both predictions of each (after the client has its answer)."""
        record = {"ts": now, "version": version, "shadow_url": config["url"]}
        try:
            body = json.dumps({"rows": rows}).encode()
            req = urllib.request.Request(config["url"] + "/predict", data=body, headers={"content-type": "application/json", "x-mloop-shadow": "1"})
            with urllib.request.urlopen(req, timeout=10) as res:
                answer = json.loads(res.read())
            shadow_version, shadow_predictions, error = str(answer.get("version")), answer.get("predictions") or [], None
        except Exception as failure:  # the shadow never affects answers: a failure is logged, not raised
            shadow_version, shadow_predictions, error = None, [], repr(failure)
        with log_lock, open(shadow_log_path, "a", encoding="utf-8") as log:
            for i, (row, prediction) in enumerate(zip(rows, predictions)):
                entry = {**record, "shadow_version": shadow_version, **logged(row), "prediction": prediction}
                if error is None and i < len(shadow_predictions):
                    entry["shadow_prediction"] = shadow_predictions[i]
                else:
                    entry["shadow_error"] = error or "the shadow answered fewer predictions than rows"
                log.write(json.dumps(entry) + "\n")

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
            self.answered_at = time.perf_counter()

        def do_GET(self):
            if self.path == "/health":
                return self.answer(200, {"status": "ok", "version": version, "model": args.model})
            self.answer(404, {"error": f"no route {self.path}"})

        def do_POST(self):
            started = time.perf_counter()
            self.request_id = self.headers.get("x-request-id") or uuid.uuid4().hex
            status = self.predict()
            if status is None:  # smoke tests and mirrored requests are not traffic
                return
            entry = {
                "ts": int(time.time() * 1000),
                "request_id": self.request_id,
                "version": serving_version,
                "latency_ms": round((self.answered_at - started) * 1000, 3),  # the client's wait, not the mirroring after it
                "status": status,
            }
            with log_lock, open(serving_log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")

        def predict(self):
            """Answers /predict; the status for the serving log, or None for requests that are not traffic."""
            if self.path != "/predict":
                self.answer(404, {"error": f"no route {self.path}"})
                return 404
            try:
                payload = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                rows = payload["rows"]
                frame = pd.DataFrame([features(r) for r in rows], columns=FEATURES)
            except (KeyError, TypeError, ValueError) as error:
                self.answer(400, {"error": f"bad request: {error!r}; send {{\"rows\": [{{date, precipitation, temp_max, temp_min, wind}}]}}"})
                return 400
            try:
                predictions = [str(p) for p in model.predict(frame)] if rows else []
                # each class's probability, for estimated performance (CBPE) and ROC AUC / log loss once labels arrive
                probabilities = model.predict_proba(frame) if rows and hasattr(model, "predict_proba") else None
            except Exception as error:  # a model that fails on these rows: a server error, logged as such
                self.answer(500, {"error": f"prediction failed: {error!r}"})
                return 500
            now = time.time()
            if self.headers.get("x-mloop-smoke") or self.headers.get("x-mloop-shadow"):
                # mloop's smoke test and mirrored requests are not traffic: keep them out of the monitoring logs
                self.answer(200, {"predictions": predictions, "version": version})
                return None
            # every prediction has an id to join its label to later: the client's, else the request id and the row's index
            ids = [str(row.get("id") or f"{self.request_id}-{i}") for i, row in enumerate(rows)]
            with log_lock, open(log_path, "a", encoding="utf-8") as log:
                for i, (row, prediction) in enumerate(zip(rows, predictions)):
                    entry = {"ts": now, "version": version, **logged(row), "id": ids[i], "request_id": self.request_id, "prediction": prediction}
                    if probabilities is not None:
                        entry.update({f"proba_{c}": round(float(p), 6) for c, p in zip(model.classes_, probabilities[i])})
                    log.write(json.dumps(entry) + "\n")
            self.answer(200, {"predictions": predictions, "ids": ids, "version": version})
            config = mirror_config()
            if rows and config and random.random() * 100 < float(config.get("percent", 100)):
                mirror(config, rows, predictions, now)
            return 200

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"weather-clf v{version} serving on http://127.0.0.1:{args.port} (model {args.model}, log {log_path})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
