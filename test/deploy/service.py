"""A model service for mloop's deployment tests (Python standard library only).

The "model" is a JSON file: {"version": 2, "fail_health_at_traffic": 50, "exit_at_start": false,
"never_healthy": false, "error_every": 2, "shift": 0.0}. /health answers 500 once the traffic share told to it through /traffic
reaches fail_health_at_traffic, which is how a canary goes bad at its 50 % step. With "fail_health_replica": N and
"fail_health_after_seconds": S, the replica started with MLOOP_REPLICA=N answers /health 500 from S seconds after its
first healthy answer (one bad replica among good ones). With error_every N, every Nth
/predict answers 500. With "shift", /predict answers each row's x + shift (otherwise the version). With --serving-log, each /predict gets a line of mloop's serving log format.

    python service.py serve --model model.json --port 8123 [--serving-log logs/serving.jsonl]
    python service.py route http://127.0.0.1:8123 50      # tells a running service its traffic share
"""
import json
import os
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(model_path: str, port: int, serving_log: str | None = None) -> None:
    with open(model_path, encoding="utf-8") as f:
        model = json.load(f)
    if model.get("exit_at_start"):
        print("model refuses to load", flush=True)
        sys.exit(3)
    state = {"traffic": 0, "predictions": 0, "first_ok": None}
    bad_replica = model.get("fail_health_replica") is not None and os.environ.get("MLOOP_REPLICA") == str(model.get("fail_health_replica"))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # keep the log to the essentials
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
                fail_at = model.get("fail_health_at_traffic")
                gone_bad = bad_replica and state["first_ok"] is not None and time.monotonic() - state["first_ok"] >= model.get("fail_health_after_seconds", 0)
                if model.get("never_healthy") or gone_bad or (fail_at is not None and state["traffic"] >= fail_at):
                    return self.answer(500, {"status": "failing", "version": model["version"], "traffic": state["traffic"]})
                if state["first_ok"] is None:
                    state["first_ok"] = time.monotonic()
                return self.answer(200, {"status": "ok", "version": model["version"], "traffic": state["traffic"]})
            if self.path == "/version":
                return self.answer(200, {"version": model["version"]})
            self.answer(404, {"error": self.path})

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/traffic":
                state["traffic"] = int(payload["percent"])
                print(f"traffic {state['traffic']}%", flush=True)
                return self.answer(200, {"traffic": state["traffic"]})
            if self.path == "/predict":
                started = time.perf_counter()
                rows = payload.get("rows", [])
                with lock:
                    state["predictions"] += 1
                    count = state["predictions"]
                every = model.get("error_every")
                status = 500 if every and count % every == 0 else 200
                predictions = [float(r["x"]) + model["shift"] for r in rows] if "shift" in model else [model["version"] for _ in rows]
                self.answer(status, {"predictions": predictions, "version": model["version"]} if status == 200 else {"error": "failed"})
                if serving_log:
                    entry = {"ts": int(time.time() * 1000), "version": model["version"], "latency_ms": (time.perf_counter() - started) * 1000, "status": status}
                    with lock, open(serving_log, "a", encoding="utf-8") as log:
                        log.write(json.dumps(entry) + "\n")
                return
            self.answer(404, {"error": self.path})

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"serving model v{model['version']} on port {port}", flush=True)
    server.serve_forever()


def route(url: str, percent: str) -> None:
    request = urllib.request.Request(f"{url}/traffic", data=json.dumps({"percent": int(percent)}).encode(), method="POST", headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.read().decode())


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        log = sys.argv[sys.argv.index("--serving-log") + 1] if "--serving-log" in sys.argv else None
        serve(sys.argv[sys.argv.index("--model") + 1], int(sys.argv[sys.argv.index("--port") + 1]), log)
    elif sys.argv[1] == "route":
        route(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
