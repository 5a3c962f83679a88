"""The fuzzed input kinds: how a case is made from a seed, which entry point reads it, and which exceptions
are the clean, user-facing failures of that entry point.

A case is a pure function of (format, campaign seed, index), so any process can rebuild it: workers make
and run cases, and the campaign rebuilds the failing ones to save them as reproducers.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from quantopt.errors import QuantOptError

from . import mutate_bytes, mutate_text
from .seeds import CALIBRATION_SHAPE, TINY_CNN, Seed, all_seeds


@dataclass(frozen=True)
class Case:
    data: bytes
    suffix: str
    description: str


@dataclass
class Format:
    name: str
    seeds: list[Seed]
    mutate: Callable[[random.Random, Seed, list[Seed]], tuple[bytes, str]]
    run: Callable[[Path], None]
    clean: tuple[type[BaseException], ...] = (QuantOptError,)

    def make_case(self, campaign_seed: int, index: int) -> Case:
        rng = random.Random(f"{campaign_seed}:{self.name}:{index}")
        seed = rng.choices(self.seeds, weights=[s.weight for s in self.seeds])[0]
        others = [s for s in self.seeds if s.suffix == seed.suffix and not s.big]
        try:
            data, how = self.mutate(rng, seed, others)
        except Exception as err:  # a field mutation the encoder refuses (e.g. nesting too deep to serialize)
            data, how = mutate_bytes.mutate(rng, seed.data), f"bytes, after {type(err).__name__} in the mutator"
        return Case(data, seed.suffix, f"{seed.name}: {how}")


# -- mutation ----------------------------------------------------------------------------------------------


def _bytes_only(rng: random.Random, seed: Seed, others: list[Seed]) -> tuple[bytes, str]:
    return mutate_bytes.mutate(rng, seed.data, [o.data for o in others]), "bytes"


@functools.cache
def _parsed_onnx(seed: Seed):
    import onnx

    return onnx.load_model_from_string(seed.data)


@functools.cache
def _parsed_mindir(seed: Seed):
    from quantopt.frontends.proto import mind_ir_pb2 as pb

    model = pb.ModelProto()
    model.ParseFromString(seed.data)
    return model


def _protobuf(parse: Callable, mutate_fields: Callable):
    """Most cases mutate fields of the decoded message (damaged bytes mostly fail in protobuf's decoder)."""

    def mutate(rng: random.Random, seed: Seed, others: list[Seed]) -> tuple[bytes, str]:
        if rng.random() < 0.7:
            message = parse(seed).__class__()
            message.CopyFrom(parse(seed))
            return mutate_fields(rng, message), "fields"
        return _bytes_only(rng, seed, others)

    return mutate


@functools.cache
def _metadata_ranges(seed: Seed) -> list[tuple[int, int]]:
    from .mutate_flatbuffers import ms_metadata_ranges, tflite_metadata_ranges

    return tflite_metadata_ranges(seed.data) if seed.suffix == ".tflite" else ms_metadata_ranges(seed.data)


@functools.cache
def _ms_mutator(seed: Seed):
    from .mutate_flatbuffers import MsGraphMutator

    return MsGraphMutator(seed.data)


@functools.cache
def _tflite_fields(seed: Seed):
    from .mutate_flatbuffers import tflite_fields

    return tflite_fields(seed.data)


def _flatbuffer(rng: random.Random, seed: Seed, others: list[Seed]) -> tuple[bytes, str]:
    """Half the cases change fields (`.ms`: of the decoded graph; TFLite: known scalars and index vectors
    in place), half damage bytes, aimed at the tables rather than the weights."""
    if rng.random() < 0.5:
        if seed.suffix == ".ms":
            return _ms_mutator(seed).mutate(rng), "fields"
        from .mutate_flatbuffers import set_field

        data, fields = seed.data, _tflite_fields(seed)
        for _ in range(rng.choice((1, 1, 2, 3))):
            data = set_field(rng, data, fields, rng.randrange(1, 300))
        return data, "fields"
    return mutate_bytes.mutate(rng, seed.data, [o.data for o in others], _metadata_ranges(seed)), "table bytes"


def _text(rng: random.Random, seed: Seed, others: list[Seed]) -> tuple[bytes, str]:
    texts = [o.data.decode() for o in others]
    return mutate_text.mutate(rng, seed.data.decode(), texts), "text"


def _bin(rng: random.Random, seed: Seed, others: list[Seed]) -> tuple[bytes, str]:
    if seed.suffix == ".out":
        return _text(rng, seed, others)
    return _bytes_only(rng, seed, others)


# -- entry points ------------------------------------------------------------------------------------------


def import_and_compile(path: Path) -> None:
    """What every tool does first: import the model, then build the reference executor for it."""
    from quantopt import Executor, import_model

    Executor(import_model(str(path)))


@functools.cache
def _tiny_cnn_executor():
    from quantopt import Executor, import_model

    module = import_model(str(TINY_CNN))
    return module, Executor(module)


def read_bench_file(path: Path) -> None:
    """quant-bench's readers: an input `.bin` for tiny_cnn (then run on it), or a reference-output file."""
    from quantopt.tools.quant_bench import _function, read_benchmark_data, read_input_files

    if path.suffix == ".out":
        read_benchmark_data(str(path))
        return
    module, executor = _tiny_cnn_executor()
    executor.run(read_input_files([str(path)], _function(module).function_type.inputs.data))


def read_calibration_config(path: Path) -> None:
    """Parse the config; when it names directories, list and read the samples of a one-input model."""
    import numpy as np

    from quantopt.passes import calibration_config as cc

    config = cc.read_calibration_config(str(path))
    if config.input_dirs:
        inputs = [cc.InputSpec("x", CALIBRATION_SHAPE, np.dtype(np.float32))]
        samples = cc.list_calibration_samples(config, inputs, log=lambda message: None)
        if samples:
            cc.read_sample(samples[0], inputs)


def _textual_ir_errors() -> tuple[type[BaseException], ...]:
    from xdsl.utils.exceptions import DiagnosticException, ParseError

    return QuantOptError, ParseError, DiagnosticException  # quant-opt prints each as one `error:` line


@functools.cache
def all_formats(big: bool = True) -> dict[str, Format]:
    """`big`: also use the MobileNetV2 seeds (for a small share of the cases)."""
    from .mutate_mindir import mutate as mutate_mindir
    from .mutate_onnx import mutate as mutate_onnx

    seeds = {name: [s for s in found if big or not s.big] for name, found in all_seeds().items()}
    formats = [
        Format("onnx", seeds["onnx"], _protobuf(_parsed_onnx, mutate_onnx), import_and_compile),
        Format("tflite", seeds["tflite"], _flatbuffer, import_and_compile),
        Format("mindir", seeds["mindir"], _protobuf(_parsed_mindir, mutate_mindir), import_and_compile),
        Format("ms", seeds["ms"], _flatbuffer, import_and_compile),
        Format("config", seeds["config"], _text, read_calibration_config),
        Format("bin", seeds["bin"], _bin, read_bench_file),
        Format("mlir", seeds["mlir"], _text, import_and_compile, _textual_ir_errors()),
    ]
    return {f.name: f for f in formats if f.seeds}
