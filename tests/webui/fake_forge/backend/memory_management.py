"""Like Forge's backend/memory_management.py: models are loaded onto the GPU per job and
unloaded to make room; `unload_all_models` empties the list of loaded models."""

import torch

current_loaded_models = []
signal_empty_cache = False


def get_torch_device():
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


class LoadedModel:
    def __init__(self, model, device=None):
        self.model = model
        self.device = device or get_torch_device()

    def model_unload(self, avoid_model_moving=False):
        if not avoid_model_moving:
            self.model.to(torch.device("cpu"))


def free_memory(memory_required, device, keep_loaded=(), free_all=False):
    unloaded = False
    for i in range(len(current_loaded_models) - 1, -1, -1):
        loaded = current_loaded_models[i]
        if loaded.device == device and loaded not in keep_loaded:
            current_loaded_models.pop(i).model_unload()
            unloaded = True
    if unloaded:
        soft_empty_cache()


def soft_empty_cache(force=False):
    global signal_empty_cache
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()
    signal_empty_cache = False


def unload_all_models():
    free_memory(1e30, get_torch_device(), free_all=True)
