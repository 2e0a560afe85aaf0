"""pytest set-up for the benchmarks folder (``make bench-pytest``).

With edgebench pip-installed, pytest loads the plugin itself through the ``pytest11`` entry point
(name ``edgebench``); from a plain checkout it is registered here. Never both: a plugin registered
twice is an error. (The check does not import the plugin, so pytest can still rewrite its asserts.)
"""

import os
from importlib import metadata


def _autoloaded() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.name == "edgebench" and ep.value.startswith("harness.pytest_plugin")
               for ep in metadata.entry_points(group="pytest11"))


pytest_plugins = [] if _autoloaded() else ["harness.pytest_plugin"]
