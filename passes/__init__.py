"""Our passes, one per file, registered by name for `quant-opt -p` and the `xdsl.universe` entry point."""

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    def fold_batchnorm():
        from quantopt.passes.fold_batchnorm import FoldBatchNormPass

        return FoldBatchNormPass

    def fuse_activation():
        from quantopt.passes.fuse_activation import FuseActivationPass

        return FuseActivationPass

    def weight_quant():
        from quantopt.passes.weight_quant import WeightQuantPass

        return WeightQuantPass

    return {"fold-batchnorm": fold_batchnorm, "fuse-activation": fuse_activation, "weight-quant": weight_quant}
