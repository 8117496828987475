"""Like modules/progress.py: task ids for /internal/progress and /internal/pending-tasks."""

import random
import string
import time
from collections import OrderedDict

current_task = None
pending_tasks = OrderedDict()
finished_tasks = []


def start_task(id_task):
    global current_task
    current_task = id_task
    pending_tasks.pop(id_task, None)


def finish_task(id_task):
    global current_task
    if current_task == id_task:
        current_task = None
    finished_tasks.append(id_task)
    if len(finished_tasks) > 16:
        finished_tasks.pop(0)


def create_task_id(task_type):
    suffix = "".join(random.choices(string.ascii_uppercase + string.digits, k=7))
    return f"task({task_type}-{suffix})"


def add_task_to_queue(id_job):
    pending_tasks[id_job] = time.time()
