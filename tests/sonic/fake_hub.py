"""A stand-in for the Hugging Face Hub's file endpoint on 127.0.0.1 (the real hub is unreachable).

It speaks the part of the protocol `huggingface_hub.hf_hub_download` uses: HEAD and GET on
`/{repo}/resolve/{revision}/{path}` with the commit, ETag and size headers, and byte ranges
for resumed downloads. Repositories are folders under `root` named `owner/name`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _handler(root: Path, gated: set[str], seconds_per_mb: float
             ) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def _target(self) -> tuple[str, Path] | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            repo = "/".join(parts[:2])
            return repo, root / repo / "/".join(parts[4:])

        def _send(self, body: bool) -> None:
            found = self._target()
            if found is None or not found[1].is_file():
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()
                return
            repo, path = found
            if repo in gated and "authorization" not in {k.lower() for k in self.headers}:
                self.send_response(401)
                self.send_header("X-Error-Code", "GatedRepo")
                self.send_header("X-Error-Message", "Access to model is restricted.")
                self.end_headers()
                return
            data = path.read_bytes()
            start = 0
            if (ranged := self.headers.get("Range", "")).startswith("bytes="):
                start = int(ranged[6:].split("-")[0])
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if body:
                chunk = 256 * 1024
                for offset in range(start, len(data), chunk):  # a slow line, when asked for
                    self.wfile.write(data[offset:offset + chunk])
                    time.sleep(seconds_per_mb * chunk / 1e6)

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            self._send(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._send(body=True)

    return Handler


@contextmanager
def fake_hub(root: Path, gated: set[str] = frozenset(),
             seconds_per_mb: float = 0.0) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(root, set(gated), seconds_per_mb))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
