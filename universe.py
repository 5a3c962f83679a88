"""Exposes our dialects, passes and frontends to stock `xdsl-opt` through the `xdsl.universe` entry point."""

from xdsl.universe import Universe

from quantopt.frontends import get_all_frontends
from quantopt.passes import get_all_passes


def _lite():
    from quantopt.dialects.lite import Lite

    return Lite


def _quant():
    from quantopt.dialects.quant import Quant

    return Quant


QUANTOPT_UNIVERSE = Universe(
    all_dialects={"lite": _lite, "quant": _quant},
    all_passes=get_all_passes(),
    all_frontends=get_all_frontends(),
)
