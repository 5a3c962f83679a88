"""Which model format a file holds, from its extension and its first bytes."""

from __future__ import annotations

import os

from quantopt.errors import QuantOptError

FORMATS = ("ONNX", "TFLITE", "MINDIR", "MS")
_EXTENSIONS = {".onnx": "ONNX", ".tflite": "TFLITE", ".mindir": "MINDIR", ".ms": "MS"}


def sniff_format(path: str) -> str | None:
    """The format the bytes look like: FlatBuffers identifiers are certain, protobuf files are not, so
    for those the extension decides."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":
        return "TFLITE"
    if head[4:8] == b"MSL2":
        return "MS"
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower())


def check_format(path: str, fmk: str) -> None:
    if not os.path.isfile(path):
        raise QuantOptError(path, "no such file")
    found = sniff_format(path)
    if found is not None and found != fmk:
        raise QuantOptError(path, f"--fmk={fmk} does not match the file", f"it looks like a {found} model")
