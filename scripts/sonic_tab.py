"""WebUI entry point. The host executes every file in scripts/; this one only hands over to the
package, which is imported eagerly so that later lazy imports do not depend on sys.path."""

import os
import sys

_EXTENSION_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _EXTENSION_ROOT not in sys.path:
    sys.path.insert(0, _EXTENSION_ROOT)

from sonic_ext.adapters import webui  # noqa: E402

webui.register()
