"""Textual IR from users (`import_model("m.mlir")`, `quant-opt m.mlir`), read without trusting it.

xDSL's parser is written for trusted input; around it we make sure that a hostile `.mlir` file fails with
one clean error instead of hanging, exhausting memory or surfacing a raw Python exception:

- string literals are lexed in linear time (see `use_linear_string_lexing`);
- the types the text spells are checked before parsing: tensor types against `limits`, because the parser
  expands a splat `dense<1.0> : tensor<1000000000xf32>` into all its bytes, and integer widths, because
  it computes the range of an `i9223372036854775807` as a Python int of that many bits;
- numbers too large for a float and nesting too deep for Python's stack become `QuantOptError`s;
- after parsing, every dense constant must hold exactly the bytes its type needs (xDSL keeps whatever
  a hex literal holds), the module must verify and every tensor must be within the limits.
"""

from __future__ import annotations

import contextlib
import math
import re

from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, ModuleOp
from xdsl.utils.mlir_lexer import MLIRLexer

from quantopt.errors import QuantOptError
from quantopt.limits import MAX_TENSOR_BYTES, LimitError, check_module, gib, itemsize_of

_STATIC_TENSOR_TYPE = re.compile(r"tensor<((?:\d+x)+)(bf16|[fi]\d+|index)?")
_WIDE_INTEGER_TYPE = re.compile(r"i(\d{2,})\b")  # starts with a literal, so it scans megabytes of hex quickly
MAX_INTEGER_WIDTH = 64


def use_linear_string_lexing() -> None:
    """xDSL 0.75 lexes string literals with `"(?:[^"\\\\\\n\\v\\f]+|\\\\(?:...))*"`, whose nested quantifiers
    backtrack exponentially on a string not closed on its line: a `dense<"0x...">` of 20 kB missing its
    closing quote never finished lexing. The same pattern with possessive quantifiers accepts the same
    strings in linear time."""
    MLIRLexer._unescaped_characters_regex = re.compile(r'"(?:[^"\\\n\v\f]++|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*+"')


def decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise QuantOptError(name, "not UTF-8 text", f"byte {err.start}") from None


def _line(text: str, offset: int) -> str:
    return f"line {text.count(chr(10), 0, offset) + 1}"


def check_spelled_types(text: str, name: str) -> None:
    """Reject static tensor types whose elements could not be allocated, before xDSL expands a splat, and
    integer types so wide that xDSL's range computations (1 << width) exhaust memory."""
    for m in _WIDE_INTEGER_TYPE.finditer(text):
        before = text[m.start() - 1: m.start()]
        if before in ("s", "u"):  # si64, ui64
            before = text[m.start() - 2: m.start() - 1]
        if int(m.group(1)) > MAX_INTEGER_WIDTH and not (before.isalnum() or before in "_%@^#.$!-"):
            raise QuantOptError(name, f"integer type {m.group(0)} is wider than {MAX_INTEGER_WIDTH} bits",
                                _line(text, m.start()))
    for m in _STATIC_TENSOR_TYPE.finditer(text):
        dims = [int(d) for d in m.group(1).split("x")[:-1]]
        element = m.group(2) or ""
        bits = 64 if element == "index" else int(re.sub(r"\D", "", element) or 8)
        nbytes = math.prod(dims) * max(1, bits // 8)
        if nbytes > MAX_TENSOR_BYTES:
            raise QuantOptError(name, f"tensor<{m.group(1)}{element}...> would take {gib(nbytes)}, more than the "
                                      f"{gib(MAX_TENSOR_BYTES)} a tensor may take", _line(text, m.start()))


@contextlib.contextmanager
def parse_errors(name: str):
    """QuantOptErrors for what xDSL's parser raises outside its own ParseError."""
    try:
        yield
    except OverflowError as err:
        raise QuantOptError(name, f"cannot parse IR: a number is out of range ({err})") from None
    except RecursionError:
        raise QuantOptError(name, "cannot parse IR: nested too deeply") from None
    except (AssertionError, NotImplementedError) as err:  # xDSL checks some input with asserts
        raise QuantOptError(name, f"cannot parse IR: {err}") from None


def check_parsed(module: ModuleOp, name: str) -> None:
    """Dense constants hold the bytes their type needs (checked first: a verifier's message prints the IR,
    which fails on such a constant), the module verifies, and all tensors are within the limits."""
    for op in module.walk():
        for attr in (*op.properties.values(), *op.attributes.values()):
            if isinstance(attr, DenseIntOrFPElementsAttr):
                expected = math.prod(attr.get_shape()) * itemsize_of(attr.get_element_type())
                if len(attr.data.data) != expected:
                    raise QuantOptError(name, f"dense constant holds {len(attr.data.data)} bytes, its type "
                                              f"{attr.type} needs {expected}", f"op '{op.name}'")
    module.verify()
    try:
        check_module(module)
    except LimitError as err:
        raise QuantOptError(name, str(err)) from None


def parse_module(text: str, name: str) -> ModuleOp:
    """Parse and verify textual IR; ParseError and VerifyException propagate (tools print them as one line)."""
    from xdsl.parser import Parser

    from quantopt.context import make_context

    check_spelled_types(text, name)
    with parse_errors(name):
        module = Parser(make_context(), text, name).parse_module()
    check_parsed(module, name)
    return module
