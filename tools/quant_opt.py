"""`quant-opt`: the xdsl-opt driver with our dialects, passes and model frontends.

    quant-opt model.onnx -p fold-batchnorm,fuse-activation
"""

from __future__ import annotations

import os
import sys

from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from quantopt.context import DIALECTS
from quantopt.errors import QuantOptError
from quantopt.frontends import get_all_frontends
from quantopt.passes import get_all_passes


class QuantOptMain(xDSLOptMain):
    def register_all_dialects(self) -> None:
        for name, dialect in DIALECTS.items():
            self.ctx.register_dialect(name, lambda d=dialect: d)

    def register_all_passes(self) -> None:
        self.available_passes.update(get_all_passes())

    def register_all_frontends(self) -> None:
        super().register_all_frontends()
        self.available_frontends.update(get_all_frontends())

    def get_input_stream(self):
        path = self.args.input_file
        if path is not None and not os.path.isfile(path):
            raise QuantOptError(path, "no such file")
        return super().get_input_stream()


def main(argv: list[str] | None = None) -> int:
    input_name = None
    try:
        tool = QuantOptMain(description="quant-opt: post-training quantization compiler", args=argv)
        input_name = tool.args.input_file or "stdin"
        tool.run()
    except QuantOptError as err:
        print(err.message, file=sys.stderr)
        return 1
    except ParseError as err:
        print(f"error: {input_name}: cannot parse IR\n{err}", file=sys.stderr)
        return 1
    except ArgSpecParseError as err:
        message = " ".join(str(err).split())
        print(f"error: bad pass pipeline: {message} (quote paths: -p 'calibrate{{config=\"dir/calib.cfg\"}}')",
              file=sys.stderr)
        return 1
    except DiagnosticException as err:
        print(f"error: {input_name}: {str(err).strip()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # an internal bug, not bad input
        print(f"internal error: {type(err).__name__}: {err} (please report this with the input that caused it)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
