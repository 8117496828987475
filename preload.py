"""WebUI preload hook: our command-line flags, added to the host's parser before it parses.

Safety settings come from these flags and the policy file, never from WebUI options (Forge lets
any API client change options; research/webui.md §2.2).
"""


def preload(parser):
    group = parser.add_argument_group("Sonic (sd-webui-sonic)")
    group.add_argument("--sonic-home", default=None, metavar="DIR",
                       help="Sonic's data: registry, keys, outputs, logs (default: <data>/sonic)")
    group.add_argument("--sonic-models-dir", default=None, metavar="DIR",
                       help="Sonic model weights (default: <models>/Sonic)")
    group.add_argument("--sonic-policy", default=None, metavar="FILE",
                       help="deployment consent policy (TOML) overriding policy/default.toml")
    group.add_argument("--sonic-admin-token", default=None, metavar="TOKEN",
                       help="admin token for consent changes in the Sonic tab and API")
