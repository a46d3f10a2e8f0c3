"""The conformance harness: loads cases, drives adapters and peers, judges outcomes.

Installed as `sockets_conformance` (this folder), with servers/ and adapters/ as its
subpackages and cases/ and spec/ as its data. PYTEST_DONT_REWRITE: the package holds no test
assertions, and the `sockets-conformance` command imports it before pytest starts, which
would otherwise warn on every run that it cannot be rewritten.
"""
