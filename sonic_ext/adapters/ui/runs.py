"""The generations running from this UI, each with its CancelToken, so Cancel can stop one.

The page keeps its run id in a `gr.State` (per browser session on both gradio versions); the
Cancel handler looks the token up here. A token lives only while its generation runs.
"""

from __future__ import annotations

import threading
import uuid

from ...progress import CancelToken


class RunRegistry:
    def __init__(self) -> None:
        self._tokens: dict[str, CancelToken] = {}
        self._lock = threading.Lock()

    def start(self) -> tuple[str, CancelToken]:
        run_id, token = uuid.uuid4().hex, CancelToken()
        with self._lock:
            self._tokens[run_id] = token
        return run_id, token

    def cancel(self, run_id: str | None, reason: str = "cancelled from the UI") -> bool:
        """Cancel the run if it is still going; False when it is not (finished or unknown)."""
        with self._lock:
            token = self._tokens.get(run_id or "")
        if token is None:
            return False
        token.cancel(reason)
        return True

    def finish(self, run_id: str) -> None:
        with self._lock:
            self._tokens.pop(run_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)
