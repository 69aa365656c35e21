"""TEST ONLY: ``python fake_run.py ARGS`` is ``harness ARGS`` with the ``fake`` device kind
registered (fake_kind.py): a whole run in a real process, for signals, locks and exit codes."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))   # tests/: fakes.py
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from harness.devices import registry  # noqa: E402

registry.KINDS["fake"] = "fake_kind"

from harness.run import executor  # noqa: E402

executor.RETRY_BACKOFF_S = (0.05, 0.05, 0.05)     # a lost fake device is given up on at once

if __name__ == "__main__":
    from harness.cli import main

    sys.exit(main(sys.argv[1:]))
