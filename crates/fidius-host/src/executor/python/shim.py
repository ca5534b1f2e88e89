# The host side of fidius's Python backend, run inside the embedded
# interpreter: imports plugin modules under private names and describes
# exceptions as fidius PluginErrors. Part of fidius-host (not user code).
import importlib
import json
import sys
import traceback

sys.dont_write_bytecode = True
_loaded = 0


def load(root, vendor, entry):
    """Imports `entry` with `root` and `vendor` first on sys.path, then moves
    it (and its submodules) to private names in sys.modules, so another
    package may use the same module name."""
    global _loaded
    for p in (vendor, root):
        if p not in sys.path:
            sys.path.insert(0, p)
    importlib.invalidate_caches()
    for k in [k for k in sys.modules if k == entry or k.startswith(entry + ".")]:
        del sys.modules[k]
    module = importlib.import_module(entry)
    _loaded += 1
    for k in [k for k in sys.modules if k == entry or k.startswith(entry + ".")]:
        sys.modules["__fidius_plugin_%d__.%s" % (_loaded, k)] = sys.modules.pop(k)
    return module


def describe(exc, tb=None):
    """(code, message, details-or-None) for an exception raised by a plugin."""
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if type(exc).__name__ == "PluginError" and isinstance(code, str) and message is not None:
        details = getattr(exc, "details", None)
        if details is not None and not isinstance(details, str):
            try:
                details = json.dumps(details)
            except (TypeError, ValueError):
                details = str(details)
        return (code, str(message), details)
    tb = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    return (type(exc).__name__, str(exc), json.dumps({"traceback": tb}))
