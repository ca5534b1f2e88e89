"""Greeter (tests/test-plugin-smoke) in Python, as a configured plugin."""

__interface_hash__ = __HASH__


class _Greeter:
    def __init__(self, greeting):
        self.greeting = greeting

    def greet(self, name):
        return "%s, %s!" % (self.greeting, name)


def __fidius_configure__(config):
    return _Greeter(config["greeting"])
