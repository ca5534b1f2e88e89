"""Calculator (tests/test-plugin-smoke) in Python."""
import fidius

__interface_hash__ = __HASH__


@fidius.method
def add(input):
    return {"result": input["a"] + input["b"]}


@fidius.method
def add_direct(a, b):
    return a + b


@fidius.method
def version():
    return "py-1.0"


@fidius.method
def multiply(input):
    return {"result": input["a"] * input["b"]}
