"""Render (and optionally apply) a KServe InferenceService for one model version at one traffic step.

    python render_isvc.py --name weather-clf --version 3 --storage-uri s3://models/weather-clf/3 \
        --traffic 10 --out deploy/isvc.yaml [--apply]

mloop runs this as the `command:` of a `serve: false` target (see mloop.yaml here) at every canary step,
with ${traffic} = 10, 50, 100. KServe splits the traffic itself: while canaryTrafficPercent is below 100, that
share goes to the revision this spec creates and the rest to the last ready one; at 100 the field is left
out, which promotes the new revision. A failed step makes mloop run the command again for the previous
version at 100, which rolls KServe forward to the old model. --apply pipes the file to `kubectl apply -f`
(an args list, no shell). Python standard library only: the YAML is written, not dumped by a library.
"""
import argparse
import json
import os
import re
import subprocess
import sys

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # a Kubernetes resource name (RFC 1123 label)


def render(name: str, version: str, storage_uri: str, traffic: int, model_format: str) -> str:
    lines = [
        "apiVersion: serving.kserve.io/v1beta1",
        "kind: InferenceService",
        "metadata:",
        f"  name: {name}",
        "  annotations:",
        f"    mloop/model-version: {json.dumps(version)}",
        "spec:",
        "  predictor:",
    ]
    if traffic < 100:
        lines.append(f"    canaryTrafficPercent: {traffic}")
    lines += [
        "    model:",
        "      modelFormat:",
        f"        name: {model_format}",
        f"      storageUri: {json.dumps(storage_uri)}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the InferenceService name (the model name, lower case)")
    parser.add_argument("--version", required=True)
    parser.add_argument("--storage-uri", required=True, help="where KServe reads the artifact: s3://, gs://, pvc://")
    parser.add_argument("--traffic", type=int, required=True, help="percent of the traffic the new revision takes")
    parser.add_argument("--model-format", default="sklearn")
    parser.add_argument("--out", required=True)
    parser.add_argument("--apply", action="store_true", help="kubectl apply -f the rendered file")
    args = parser.parse_args()
    if not NAME.match(args.name) or len(args.name) > 63:
        sys.exit(f"--name {args.name!r} is not a Kubernetes name (lower case letters, digits and '-')")
    if not 0 <= args.traffic <= 100:
        sys.exit(f"--traffic {args.traffic} is not a percent")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(render(args.name, args.version, args.storage_uri, args.traffic, args.model_format))
    print(f"rendered {args.out}: {args.name} v{args.version} at {args.traffic}%", flush=True)
    if args.apply:
        sys.exit(subprocess.run(["kubectl", "apply", "-f", args.out], check=False).returncode)


if __name__ == "__main__":
    main()
