"""The harness is the pytest plugin `sockets_conformance.plugin`, which pytest loads through the
package's pytest11 entry point: in a checkout, install it once with `pip install -e .`."""

import importlib.util

if importlib.util.find_spec("sockets_conformance") is None:
    raise SystemExit("sockets-conformance is not installed in this Python: run "
                     "`pip install -e .` in the checkout (README, Quick start)")
