"""Fallible (tests/test-plugin-smoke) in Python: errors, unit and tuples."""
import fidius

__interface_hash__ = __HASH__
touched = 0


def check(n):
    if n % 2 == 1:
        raise fidius.PluginError("ODD", "%d is odd" % n, {"n": n})
    return "v%d" % n


def boom(msg):
    raise ValueError(msg)


def slow_double(n):
    return 2 * n


def count(text, data):
    return (len(text), len(data))


def parse_raw(data):
    if not data:
        raise fidius.PluginError("EMPTY", "no input")
    return bytes(data).upper()


def touch():
    global touched
    touched += 1


def blob(n, seed):
    return bytes((seed + i) % 256 for i in range(n))


def extra():
    return 8
