"""A client of the HTTP API: submit a generation, follow its progress, download the signed video,
then have the server verify it.

    python examples/api_client.py --url http://127.0.0.1:7861 --user alice:secret \
        --image face.jpg --audio speech.wav --consent con_... --out talking.mp4

Needs only httpx. The server is `sonic-ext serve --api-auth alice:secret` (or a WebUI with the
extension); `GET /sonic/v1/consents/granted` lists the consents this user may name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import httpx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7861")
    parser.add_argument("--user", required=True, help="USER:PASSWORD")
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--audio", type=Path, required=True)
    parser.add_argument("--consent", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--purpose", default="education")
    parser.add_argument("--params", default="{}", help='JSON, e.g. \'{"steps": 25}\'')
    args = parser.parse_args()
    user, _, password = args.user.partition(":")

    with httpx.Client(base_url=f"{args.url.rstrip('/')}/sonic/v1/", auth=(user, password),
                      timeout=120) as api:
        with args.image.open("rb") as image, args.audio.open("rb") as audio:
            submitted = api.post("generate", files={"image": image, "audio": audio},
                                 data={"purpose": args.purpose, "consent_id": args.consent,
                                       "params": args.params})
        if submitted.status_code != 202:  # 403: refused by the gate, 422: bad input, ...
            print(f"refused ({submitted.status_code}): {json.dumps(submitted.json()['detail'])}")
            return 1
        job = submitted.json()
        while job["state"] in ("queued", "running"):
            time.sleep(1)
            job = api.get(job["status_url"]).json()
            if job.get("progress"):
                step = job["progress"]
                print(f"  {step['stage']}: {step['step']}/{step['total']}", flush=True)
        if job["state"] != "done":
            print(f"job {job['state']}: {json.dumps(job.get('error'))}")
            return 1
        with api.stream("GET", job["video_url"]) as video, args.out.open("wb") as out:
            video.raise_for_status()
            for block in video.iter_bytes():
                out.write(block)
        with args.out.open("rb") as signed:
            report = api.post("verify", files={"file": (args.out.name, signed, "video/mp4")})
        report.raise_for_status()
        verdict = report.json()
    print(f"wrote {args.out}; verify: {verdict['verdict']}; consent: "
          f"{(verdict.get('consent_check') or {}).get('verdict')}")
    return 0 if verdict["verdict"] == "authentic" else 1


if __name__ == "__main__":
    sys.exit(main())
