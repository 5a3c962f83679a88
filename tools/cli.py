"""How every command-line tool ends: bad input is one line and exit 1, an internal bug exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable

from quantopt.errors import QuantOptError


def run_tool(body: Callable[[], int | None]) -> int:
    """Run `body`, turning a QuantOptError into its one-line message (exit 1), Ctrl-C into exit 130 and any
    other exception, a bug of ours, into a short request for a report (exit 2); never a traceback."""
    try:
        return body() or 0
    except QuantOptError as err:
        print(err.message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an internal bug, not bad input
        print(f"internal error: {type(err).__name__}: {err} (please report this with the input that caused it)",
              file=sys.stderr)
        return 2
