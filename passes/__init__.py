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

    def lower_to_int8():
        from quantopt.passes.lower_to_int8 import LowerToInt8Pass

        return LowerToInt8Pass

    def bias_correction():
        from quantopt.passes.bias_correction import BiasCorrectionPass

        return BiasCorrectionPass

    def insert_calibration():
        from quantopt.passes.insert_calibration import InsertCalibrationPass

        return InsertCalibrationPass

    def calibrate():
        from quantopt.passes.calibrate import CalibratePass

        return CalibratePass

    def lower_calibration():
        from quantopt.passes.lower_calibration import LowerCalibrationPass

        return LowerCalibrationPass

    def accuracy_report():
        from quantopt.passes.accuracy_report import AccuracyReportPass

        return AccuracyReportPass

    return {"fold-batchnorm": fold_batchnorm, "fuse-activation": fuse_activation, "weight-quant": weight_quant,
            "lower-to-int8": lower_to_int8, "bias-correction": bias_correction,
            "insert-calibration": insert_calibration, "calibrate": calibrate, "lower-calibration": lower_calibration,
            "accuracy-report": accuracy_report}
