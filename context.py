"""The xDSL context every tool and test shares: builtin, func and arith plus our dialects."""

from xdsl.context import Context
from xdsl.dialects.arith import Arith
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func

from quantopt.dialects.lite import Lite
from quantopt.dialects.quant import Quant

DIALECTS = {"builtin": Builtin, "func": Func, "arith": Arith, "lite": Lite, "quant": Quant}


def make_context() -> Context:
    ctx = Context()
    for dialect in DIALECTS.values():
        ctx.load_dialect(dialect)
    return ctx
