"""Like modules/call_queue.py: the one lock every GPU job in the WebUI takes."""

from modules import fifo_lock

queue_lock = fifo_lock.FIFOLock()


def wrap_queued_call(func):
    def f(*args, **kwargs):
        with queue_lock:
            return func(*args, **kwargs)

    return f
