"""Send a year of Seattle weather to the served model as traffic, then deliver the true labels (standard library only).

    python simulate.py                       # 2015, 10 rows a request, to http://127.0.0.1:8765
    python simulate.py --year 2015 --limit 100 --url http://127.0.0.1:8765
    python simulate.py --broken-station south   # the south station reports precipitation in inches

The service logs every prediction to logs/predictions.jsonl, which drift monitoring compares with
the data the model was trained on. Each row carries an id and the station that measured it (the days
alternate between a north and a south station); once the traffic is sent, the true weather of each row
is appended to logs/labels.csv (id,label), as labels arrive in production: later than the predictions.
Monitoring joins them by id and judges accuracy per window and per station (mloop.yaml, monitoring:).

--broken-station simulates an upstream fault in one group only: that station's precipitation arrives in
inches instead of millimetres, and the model's accuracy drops on its rows alone.

--feedback (A/B tests and bandits through mloop's gateway): after each answer, the share of its rows predicted
right goes to POST /feedback with the answer's x-request-id, the outcome `mloop ab <target>` compares per arm.
"""
import argparse
import csv
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

STATIONS = ["north", "south"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/seattle-weather.csv")
    parser.add_argument("--year", default="2015")
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--limit", type=int, default=0, help="at most this many rows (0: the whole year)")
    parser.add_argument("--labels", default="logs/labels.csv", help="append id,label of every row sent here (empty: no labels)")
    parser.add_argument("--broken-station", choices=STATIONS, help="this station sends precipitation in inches (a fault in one group)")
    parser.add_argument(
        "--feedback",
        action="store_true",
        help="A/B tests through mloop's gateway: send each request's outcome (the share of its rows predicted right) to POST /feedback",
    )
    args = parser.parse_args()

    with open(args.data, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["date"].startswith(args.year)]
    if args.limit:
        rows = rows[: args.limit]
    if not rows:
        sys.exit(f"no rows for {args.year} in {args.data}")
    try:
        urllib.request.urlopen(f"{args.url}/health", timeout=5).close()
    except OSError as error:
        sys.exit(f"nothing answers at {args.url} ({error}): deploy weather-clf first (mloop: Deploy Version… or `mloop deploy weather-clf --target local`)")
    run = uuid.uuid4().hex[:8]  # ids stay unique when the simulation runs again
    for i, r in enumerate(rows):
        r["id"], r["station"] = f"{run}-{i}", STATIONS[i % 2]
    sent = correct = 0
    for start in range(0, len(rows), args.batch):
        batch = rows[start : start + args.batch]
        sent_rows = []
        for r in batch:
            row = {k: r[k] for k in ["id", "station", "date", "precipitation", "temp_max", "temp_min", "wind"]}
            if r["station"] == args.broken_station:
                row["precipitation"] = round(float(r["precipitation"]) / 25.4, 3)
            sent_rows.append(row)
        body = json.dumps({"rows": sent_rows}).encode()
        # the first row's id as the key: the gateway keeps a key on one arm of an A/B test (sticky assignment)
        headers = {"content-type": "application/json", "x-mloop-key": batch[0]["id"]}
        request = urllib.request.Request(f"{args.url}/predict", data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
            request_id = response.headers.get("x-request-id")
        sent += len(batch)
        right = sum(p == r["weather"] for p, r in zip(answer["predictions"], batch))
        correct += right
        if args.feedback and not request_id:
            sys.exit(f"\n{args.url} answered without an x-request-id: --feedback needs mloop's gateway (a target with gateway: true)")
        if args.feedback:
            feedback = json.dumps({"request_id": request_id, "reward": right / len(batch)}).encode()
            try:
                urllib.request.urlopen(urllib.request.Request(f"{args.url}/feedback", data=feedback, method="POST", headers={"content-type": "application/json"}), timeout=10).close()
            except urllib.error.HTTPError as error:
                sys.exit(f"\nPOST {args.url}/feedback answered {error.code}: feedback goes to mloop's gateway (a target with gateway: true)")
        # progress on one line: the task terminal (and any TTY) redraws it in place
        print(f"\rsent {sent}/{len(rows)} rows ({100 * sent // len(rows)}%)", end="" if sent < len(rows) else "\n", flush=True)
    print(f"sent {sent} rows of {args.year} to {args.url}: accuracy on them {correct / sent:.3f} (model v{answer['version']})")
    if args.labels:
        # the labels arrive after the predictions: appended in one write, with the header when the file is new
        folder = os.path.dirname(args.labels)
        if folder:
            os.makedirs(folder, exist_ok=True)
        new = not os.path.exists(args.labels) or os.path.getsize(args.labels) == 0
        lines = (["id,label"] if new else []) + [f"{r['id']},{r['weather']}" for r in rows]
        with open(args.labels, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        print(f"delivered {len(rows)} labels to {args.labels}")


if __name__ == "__main__":
    main()
