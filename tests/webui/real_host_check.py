"""Checks against a real, running WebUI with this extension installed (after
../shared/tools/webui-smoke.sh with KEEP_RUNNING=1), run with the host venv's own Python so that
its gradio_client (0.5 for A1111's gradio 3.41, 1.x for Forge's 4.40) is the one used:

    <webui>/venv/bin/python tests/webui/real_host_check.py http://127.0.0.1:7860

1. The Sonic tab's `generate` and `verify` functions are in the host's gradio API.
2. `verify` answers for a file through gradio_client.
3. A direct gradio_client call of `generate` for a person without recorded consent is refused by
   the consent gate in the Python handler (no JavaScript involved), and so is the HTTP API.

With `--generate`, once Barack Obama's consent for "education" is recorded in the host's Sonic
home and test weights (`sonic-ext models make-tiny`, written as safetensors) are in its models
folder (both paths are in /sonic/v1/health), also runs the host side of a generation for real:

4. an API job runs as a WebUI job: the host's /sdapi/v1/progress shows it (job "sonic", our
   text, progress above 0), a host call that takes the queue lock (POST
   /sdapi/v1/refresh-checkpoints) waits until our job has ended, and it ends with a signed video;
5. the host's POST /sdapi/v1/interrupt cancels the next one.

Exits non-zero at the first check that fails. Not collected by pytest: it needs a live host.
"""

from __future__ import annotations

import json
import math
import struct
import sys
import tempfile
import time
import wave
from pathlib import Path

import httpx
from gradio_client import Client

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
REFUSED = "consent"  # every consent-gate refusal says why in these words


def tone_wav(path: Path, seconds: float = 1.5, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i
                                                                        / rate)))
                                 for i in range(int(seconds * rate))))
    return path


def upload(path: Path) -> object:
    """A file argument as this gradio_client wants it (1.x: handle_file; 0.5: the path)."""
    try:
        from gradio_client import handle_file
    except ImportError:
        return str(path)
    return handle_file(str(path))


def endpoint_inputs(config: dict, api_name: str) -> list[dict]:
    """The input components of the event listener published as `api_name`."""
    components = {c["id"]: c for c in config["components"]}
    (dependency,) = [d for d in config["dependencies"] if d.get("api_name") == api_name]
    return [components[i] for i in dependency["inputs"]]


def check(ok: bool, what: str) -> None:
    print(("PASS " if ok else "FAIL ") + what, flush=True)
    if not ok:
        sys.exit(1)


def main(base: str) -> None:
    config = httpx.get(f"{base}/config", timeout=30).json()
    named = {d.get("api_name") for d in config["dependencies"]}
    check({"generate", "verify"} <= named, f"gradio {config.get('version')}: the Sonic tab's "
          "generate and verify functions are in the host's API")
    client = Client(base, verbose=False) if "verbose" in Client.__init__.__code__.co_varnames \
        else Client(base)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    ours = sorted(e for e in endpoints if e in ("/generate", "/verify"))
    check(ours == ["/generate", "/verify"], f"gradio_client sees them: {ours}")

    with tempfile.TemporaryDirectory() as tmp:
        speech = tone_wav(Path(tmp) / "speech.wav")
        verdict = client.predict(upload(speech), api_name="/verify")
        text = json.dumps(verdict, default=str)
        check("verdict" in text.lower(), f"verify answered: {text[:160]}")

        values = []
        for component in endpoint_inputs(config, "generate"):
            elem = component["props"].get("elem_id")
            if elem == "sonic_portrait":
                values.append(upload(FACES / "biden.jpg"))
            elif elem == "sonic_speech":
                values.append(upload(speech))
            elif elem == "sonic_purpose":
                values.append("education")
            else:
                values.append(component["props"].get("value"))
        try:
            result = client.predict(*values, api_name="/generate")
        except Exception as exc:  # noqa: BLE001 - gradio_client wraps the handler's gr.Error
            message = str(exc)
        else:
            message = f"no error, result {result!r}"
        check(REFUSED in message.lower(),
              f"generate without consent, direct gradio_client call: refused: {message[:300]}")

        with open(FACES / "biden.jpg", "rb") as image, open(speech, "rb") as audio:
            answer = httpx.post(f"{base}/sonic/v1/generate", timeout=120,
                                files={"image": ("biden.jpg", image, "image/jpeg"),
                                       "audio": ("speech.wav", audio, "audio/wav")},
                                data={"purpose": "education"})
        check(answer.status_code == 403 and REFUSED in answer.text.lower(),
              f"HTTP API without consent: {answer.status_code} {answer.text[:300]}")
        if "--generate" in sys.argv:
            generate_as_a_webui_job(base, speech)


def submit(base: str, speech: Path) -> str:
    with open(FACES / "obama2.jpg", "rb") as image, open(speech, "rb") as audio:
        answer = httpx.post(f"{base}/sonic/v1/generate", timeout=120,
                            files={"image": ("obama2.jpg", image, "image/jpeg"),
                                   "audio": ("speech.wav", audio, "audio/wav")},
                            data={"purpose": "education",
                                  "params": json.dumps({"steps": 2, "min_resolution": 256})})
    check(answer.status_code in (200, 201, 202), f"job accepted: {answer.text[:200]}")
    return answer.json()["id"]


def host_job(base: str) -> dict:
    return httpx.get(f"{base}/sdapi/v1/progress?skip_current_image=true", timeout=30).json()


def wait_for_queue_lock(base: str) -> tuple[float, str]:
    """Seconds a host call that takes the queue lock waited, and the host's job right after."""
    start = time.monotonic()
    httpx.post(f"{base}/sdapi/v1/refresh-checkpoints", timeout=600).raise_for_status()
    return time.monotonic() - start, host_job(base)["state"]["job"]


def follow(base: str, job_id: str, interrupt: bool = False) -> tuple[dict, list[dict]]:
    """Poll the host's progress (as its progress bar does) until the job ends; once the host
    shows our job, press its Interrupt (`interrupt`) or take its queue lock (otherwise)."""
    seen: list[dict] = []
    probed = False
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        progress = host_job(base)
        if progress["state"]["job"] == "sonic":
            seen.append(progress)
            if interrupt and len(seen) == 1:
                httpx.post(f"{base}/sdapi/v1/interrupt", timeout=30).raise_for_status()
            elif not interrupt and not probed \
                    and str(progress.get("textinfo")).startswith("Sonic: denoise"):
                waited, after = wait_for_queue_lock(base)
                check(after != "sonic", f"the host's queue lock was ours: a lock-taking host "
                      f"call made while we denoised waited {waited:.1f} s, until our job ended")
                probed = True
        job = httpx.get(f"{base}/sonic/v1/jobs/{job_id}", timeout=30).json()
        if job["state"] not in ("queued", "running"):
            return job, seen
        time.sleep(0.25)
    check(False, f"job {job_id} still running after 600 s")
    raise AssertionError  # unreachable: check exits


def generate_as_a_webui_job(base: str, speech: Path) -> None:
    idle, _ = wait_for_queue_lock(base)
    print(f"     (idle, the same host call takes {idle:.2f} s)")
    job, seen = follow(base, submit(base, speech))
    check(job["state"] == "done", f"a generation in the host: {job['state']} {job.get('error')}")
    texts = sorted({p["textinfo"] for p in seen if p.get("textinfo")})
    check(bool(seen) and all(p["state"]["job_count"] == 1 for p in seen)
          and max(p["progress"] for p in seen) > 0.1
          and any(t.startswith("Sonic: denoise") for t in texts),
          f"/sdapi/v1/progress showed our job {len(seen)} times, progress up to "
          f"{max((p['progress'] for p in seen), default=0):.2f}, texts {texts[:6]}")
    job, seen = follow(base, submit(base, speech), interrupt=True)
    # nothing else cancels it here; the host's log says "not published ...: interrupted in the
    # WebUI"
    check(bool(seen) and job["state"] == "cancelled",
          f"the host's Interrupt while it showed our job: {job['state']}")


if __name__ == "__main__":
    main(next((a for a in sys.argv[1:] if not a.startswith("--")), "http://127.0.0.1:7860"))
