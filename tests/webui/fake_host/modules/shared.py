"""Like modules/shared.py: the parsed command line, including extensions' preload flags."""

import argparse

cmd_opts = argparse.Namespace(api_auth=None, sonic_home=None, sonic_models_dir=None,
                              sonic_policy=None, sonic_admin_token=None)
