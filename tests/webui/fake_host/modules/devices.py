"""Like modules/devices.py: where the SD model runs, and the cache flush `State` calls."""

import torch

cpu = torch.device("cpu")
device = cpu  # the hosts set this at start-up (shared_init.py); CPU under --use-cpu all


def torch_gc():
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()
