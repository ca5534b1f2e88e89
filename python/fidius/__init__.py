"""The fidius Python SDK: what a Python plugin module needs.

A plugin module defines ``__interface_hash__`` (from ``fidius python-stub``)
and one function per trait method; ``@fidius.method`` marks them (and lets
tools list them). Raise :class:`PluginError` for a typed error: its code,
message and details reach the Rust host as ``CallError::Plugin``.
"""

__all__ = ["method", "PluginError", "get_method", "list_methods", "reset_registry"]
__version__ = "0.5.9"

_registry = {}


def method(func):
    """Marks ``func`` as a plugin method and returns it unchanged.

    Two methods of one name in one module are a ``ValueError``; importing a
    module again (a host loading a second copy of a plugin) starts afresh.
    """
    scope = id(func.__globals__)
    owner, methods = _registry.get(func.__module__, (None, None))
    if owner != scope:
        methods = {}
        _registry[func.__module__] = (scope, methods)
    if func.__name__ in methods:
        raise ValueError(
            "fidius method %r is already defined in module %r" % (func.__name__, func.__module__)
        )
    methods[func.__name__] = func
    return func


def get_method(name, module=None):
    """The method ``name`` (of ``module``, if given); ``KeyError`` if it is
    unknown or, without ``module``, defined by several modules."""
    if module is not None:
        return _registry[module][1][name]
    found = [m[name] for _, m in _registry.values() if name in m]
    if len(found) != 1:
        raise KeyError(
            "fidius method %r is %s" % (name, "unknown" if not found else "ambiguous")
        )
    return found[0]


def list_methods(module=None):
    """Names of the registered methods (of ``module``, if given), sorted."""
    if module is not None:
        return sorted(_registry.get(module, (None, {}))[1])
    return sorted({n for _, m in _registry.values() for n in m})


def reset_registry():
    """Forgets every registered method (for tests)."""
    _registry.clear()


class PluginError(Exception):
    """A typed plugin error: ``code`` (a short machine-readable string),
    ``message`` (for people) and optional ``details`` (any JSON value)."""

    def __init__(self, code, message, details=None):
        super().__init__("[%s] %s" % (code, message))
        self.code = code
        self.message = message
        self.details = details
