"""Frontends: model files into our IR, keyed by file extension for the opt driver."""

from collections.abc import Callable


def get_all_frontends() -> dict[str, Callable[[], type]]:
    def onnx():
        from quantopt.frontends.onnx import OnnxFrontend

        return OnnxFrontend

    def mindir():
        from quantopt.frontends.mindir import MindirFrontend

        return MindirFrontend

    def tflite():
        from quantopt.frontends.tflite import TfliteFrontend

        return TfliteFrontend

    return {"onnx": onnx, "tflite": tflite, "mindir": mindir}
