"""Like modules/shared.py: the parsed command line (with extensions' preload flags), the job
state, the device, the settings (`opts`, `OptionInfo`, `hide_dirs`), and `sd_model`, a module
property that loads the checkpoint on first use."""

import argparse
import sys
import types

from modules import devices, options, shared_state

cmd_opts = argparse.Namespace(api_auth=None, sonic_home=None, sonic_models_dir=None,
                              sonic_policy=None, sonic_admin_token=None,
                              hide_ui_dir_config=False)
OptionInfo = options.OptionInfo
hide_dirs = {"visible": not cmd_opts.hide_ui_dir_config}
restricted_opts = set()  # path settings read-only under --hide-ui-dir-config
opts = options.Options({}, restricted_opts)  # filled by shared_options and on_ui_settings
device = devices.device  # set by shared_init.initialize() in the hosts
state = shared_state.State()  # likewise


class Shared(types.ModuleType):
    @property
    def sd_model(self):
        import modules.sd_models

        return modules.sd_models.model_data.get_sd_model()

    @sd_model.setter
    def sd_model(self, value):
        import modules.sd_models

        modules.sd_models.model_data.set_sd_model(value)


sys.modules[__name__].__class__ = Shared
