"""Send a year of Seattle weather to the served model as traffic (standard library only).

    python simulate.py                       # 2015, 10 rows a request, to http://127.0.0.1:8765
    python simulate.py --year 2015 --limit 100 --url http://127.0.0.1:8765

The service logs every prediction to logs/predictions.jsonl, which drift monitoring compares with
the data the model was trained on.
"""
import argparse
import csv
import json
import sys
import urllib.request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/seattle-weather.csv")
    parser.add_argument("--year", default="2015")
    parser.add_argument("--url", default="http://127.0.0.1:8765")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--limit", type=int, default=0, help="at most this many rows (0: the whole year)")
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
    sent = correct = 0
    for start in range(0, len(rows), args.batch):
        batch = rows[start : start + args.batch]
        body = json.dumps({"rows": [{k: r[k] for k in ["date", "precipitation", "temp_max", "temp_min", "wind"]} for r in batch]}).encode()
        request = urllib.request.Request(f"{args.url}/predict", data=body, method="POST", headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.load(response)
        sent += len(batch)
        correct += sum(p == r["weather"] for p, r in zip(answer["predictions"], batch))
        # progress on one line: the task terminal (and any TTY) redraws it in place
        print(f"\rsent {sent}/{len(rows)} rows ({100 * sent // len(rows)}%)", end="" if sent < len(rows) else "\n", flush=True)
    print(f"sent {sent} rows of {args.year} to {args.url}: accuracy on them {correct / sent:.3f} (model v{answer['version']})")


if __name__ == "__main__":
    main()
