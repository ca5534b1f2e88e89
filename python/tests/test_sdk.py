"""Tests of the fidius Python SDK (run with `python3 -m unittest` here)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import fidius  # noqa: E402


class SdkTest(unittest.TestCase):
    def setUp(self):
        fidius.reset_registry()

    def test_method_registers_and_returns_the_function(self):
        def add(a, b):
            return a + b

        self.assertIs(fidius.method(add), add)
        self.assertEqual(fidius.list_methods(), ["add"])
        self.assertIs(fidius.get_method("add", __name__), add)
        self.assertIs(fidius.get_method("add"), add)

    def test_duplicates_and_unknown_names(self):
        def f():
            pass

        fidius.method(f)
        with self.assertRaises(ValueError):
            fidius.method(f)
        with self.assertRaises(KeyError):
            fidius.get_method("nope")

    def test_a_fresh_import_of_a_module_starts_afresh(self):
        first = {"__name__": "plugin"}
        second = {"__name__": "plugin"}
        code = "import fidius\n@fidius.method\ndef run():\n    return %d\n"
        exec(code % 1, first)
        exec(code % 2, second)
        self.assertEqual(fidius.get_method("run", "plugin")(), 2)

    def test_plugin_error_fields(self):
        e = fidius.PluginError("BAD", "bad input", {"field": "x"})
        self.assertEqual((e.code, e.message, e.details), ("BAD", "bad input", {"field": "x"}))
        self.assertEqual(str(e), "[BAD] bad input")
        self.assertIsNone(fidius.PluginError("A", "b").details)


if __name__ == "__main__":
    unittest.main()
