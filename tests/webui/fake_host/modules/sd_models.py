"""Like A1111's modules/sd_models.py: the loaded SD checkpoint and moving it between devices.

`--lowvram`/`--medvram` (modules/lowvram.py) are not modelled: models here have lowvram=False,
so they move whole, as in a default A1111.
"""

import threading

import torch

from modules import devices, shared


class StandInSdModel(torch.nn.Module):
    """What `load_model` leaves in `model_data.sd_model`: a torch module with the host's flag."""

    lowvram = False

    def __init__(self):
        super().__init__()
        self.diffusion_model = torch.nn.Linear(4, 4)


class SdModelData:
    def __init__(self):
        self.sd_model = None
        self.loaded_sd_models = []
        self.was_loaded_at_least_once = False
        self.lock = threading.Lock()

    def get_sd_model(self):
        """What `shared.sd_model` returns: loads the checkpoint if none was ever loaded."""
        if self.was_loaded_at_least_once:
            return self.sd_model
        if self.sd_model is None:
            with self.lock:
                if self.sd_model is None and not self.was_loaded_at_least_once:
                    load_model()
        return self.sd_model

    def set_sd_model(self, v, already_loaded=False):
        self.sd_model = v
        if v in self.loaded_sd_models:
            self.loaded_sd_models.remove(v)
        if v is not None:
            self.loaded_sd_models.insert(0, v)


model_data = SdModelData()


def load_model(checkpoint_info=None, already_loaded_state_dict=None):
    model = StandInSdModel()
    send_model_to_device(model)
    model_data.set_sd_model(model)
    model_data.was_loaded_at_least_once = True
    return model


def send_model_to_cpu(m):
    if m is not None:
        m.to(devices.cpu)
    devices.torch_gc()


def send_model_to_device(m):
    m.to(shared.device)


def unload_model_weights(sd_model=None, info=None):
    """POST /sdapi/v1/unload-checkpoint: to the CPU; nothing brings it back by itself."""
    send_model_to_cpu(sd_model or shared.sd_model)
    return sd_model
