"""`quant-opt`: the xdsl-opt driver with our dialects, passes and model frontends.

    quant-opt model.onnx -p fold-batchnorm,fuse-activation
"""

from __future__ import annotations

import io
import os
import sys
import tempfile

from xdsl.utils.arg_spec import parse_spec
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from quantopt import textual_ir
from quantopt.context import DIALECTS
from quantopt.errors import QuantOptError
from quantopt.frontends import get_all_frontends
from quantopt.passes import get_all_passes


class OutputOnSuccess(io.StringIO):
    """The `-o` file's text, held until the run has succeeded, so that a failure leaves no file behind
    (xDSL's driver would open the file first and leave it empty)."""

    text = ""

    def close(self) -> None:
        self.text = self.getvalue()
        super().close()

    def write_to(self, path: str) -> None:
        directory = os.path.dirname(os.path.abspath(path))
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".quant-opt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self.text)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise


class QuantOptMain(xDSLOptMain):
    pending_output: OutputOnSuccess | None = None

    def register_all_dialects(self) -> None:
        for name, dialect in DIALECTS.items():
            self.ctx.register_dialect(name, lambda d=dialect: d)

    def register_all_passes(self) -> None:
        self.available_passes.update(get_all_passes())

    def register_all_frontends(self) -> None:
        super().register_all_frontends()
        self.available_frontends.update(get_all_frontends())

    def setup_pipeline(self) -> None:
        try:
            super().setup_pipeline()
        except ValueError as err:  # unknown pass, option of the wrong type or out of range
            raise QuantOptError(None, f"bad pass pipeline: {err}") from None

    def get_input_stream(self):
        path = self.args.input_file
        if path is not None and not os.path.isfile(path):
            raise QuantOptError(path, "no such file")
        stream, extension = super().get_input_stream()
        if self.args.frontend is None and extension not in self.available_frontends:
            stream.close()
            raise QuantOptError(path, f"unsupported input format '.{extension}'",
                                f"expected {', '.join('.' + e for e in sorted(self.available_frontends))}")
        return stream, extension

    def parse_chunk(self, chunk, file_extension: str, start_offset: int = 0):
        name = self.get_input_name()
        if parse_spec(self.args.frontend or file_extension).name == "mlir":
            text = textual_ir.decode(chunk.read(), name)
            textual_ir.check_spelled_types(text, name)
            chunk = io.BytesIO(text.encode())
        with textual_ir.parse_errors(name):
            module = super().parse_chunk(chunk, file_extension, start_offset)
        if module is not None:
            textual_ir.check_parsed(module, name)
        return module

    def prepare_output(self):
        self.pending_output = None if self.args.output_file is None else OutputOnSuccess()
        return self.pending_output or sys.stdout

    def run(self) -> None:
        super().run()
        if self.pending_output is not None:
            self.pending_output.write_to(self.args.output_file)


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
