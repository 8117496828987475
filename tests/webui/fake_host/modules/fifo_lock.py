"""Like modules/fifo_lock.py: a non-reentrant lock granted in arrival order."""

import collections
import threading


class FIFOLock:
    def __init__(self):
        self._guard = threading.Lock()
        self._held = False
        self._waiting = collections.deque()  # one Event per waiting thread, oldest first

    def acquire(self, blocking=True):
        with self._guard:
            if not self._held:
                self._held = True
                return True
            if not blocking:
                return False
            turn = threading.Event()
            self._waiting.append(turn)
        turn.wait()  # release() hands the lock over: it stays held
        return True

    def release(self):
        with self._guard:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False

    __enter__ = acquire

    def __exit__(self, exc_type, exc, tb):
        self.release()
