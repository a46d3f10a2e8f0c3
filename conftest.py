"""Wires the conformance harness into pytest: cases/**/*.yaml become test items."""

pytest_plugins = ["harness.plugin"]
