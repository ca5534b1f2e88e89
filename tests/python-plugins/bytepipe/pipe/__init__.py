"""BytePipe (tests/test-plugin-smoke) in Python, as a package with a helper module."""
from .helpers import reversed_bytes

__interface_hash__ = __HASH__


def reverse(data):
    return reversed_bytes(data)


def name():
    return "py-pipe"
