"""The accuracy-debugging tools on the bundled tiny CNN: per-layer report, plots, skip list, mixed bits."""

import csv
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from xdsl.ir import BlockArgument

from quantopt import Executor
from quantopt.dialects import lite
from quantopt.dialects.quant import QuantizeCastOp, UniformQuantizedType, element_type_of
from quantopt.passes.bias_correction import float_model_for
from quantopt.passes.calibration_config import read_calibration_config
from quantopt.passes.weight_quant import WeightQuantPass, layer_name
from quantopt.tools.converter_lite import main as converter_main
from quantopt.tools.debug_report import LAYER_COLUMNS, OUTPUT_COLUMNS
from quantopt.tools.post_training import quantize_post_training

EXAMPLE = str(Path(__file__).resolve().parents[1] / "examples" / "tiny_cnn.onnx")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def calibration(tmp_path):
    """A directory of 6 random inputs for the tiny CNN and a writer of config files naming it."""
    directory = tmp_path / "calib"
    directory.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        rng.standard_normal((1, 3, 32, 32)).astype(np.float32).tofile(directory / f"{i:04d}.bin")

    def config(extra: str = "") -> str:
        path = tmp_path / "calib.cfg"
        path.write_text(f"image_path={directory}\nbatch_count=6\nmethod_x=MAX_MIN\n{extra}")
        return str(path)

    return config


def test_debug_dir_writes_report_and_plots(tmp_path, calibration, capsys):
    debug = tmp_path / "debug"
    status = converter_main(["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={tmp_path / 'q'}",
                             "--quantType=PostTraining", f"--configFile={calibration()}", f"--debugDir={debug}"])
    assert status == 0
    with open(debug / "layers.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == LAYER_COLUMNS
    assert {"stem.c", "pw.c", "logits"} <= {r["layer"] for r in rows}
    for row in rows:
        assert math.isfinite(float(row["sqnr_db"]))
        assert -1.0 <= float(row["cosine"]) <= 1.0 + 1e-9
        assert 0.0 <= float(row["clip_rate"]) <= 1.0
        assert row["bits"] == "8"
    with open(debug / "outputs.csv") as f:
        outputs = list(csv.DictReader(f))
    assert list(outputs[0]) == OUTPUT_COLUMNS and len(outputs) == 1
    pngs = sorted(p.name for p in debug.glob("*.png"))
    assert "sqnr_per_layer.png" in pngs and any(p.startswith("histogram_") for p in pngs)
    for name in pngs:
        data = (debug / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert "worst" in capsys.readouterr().out


def test_debug_dir_with_weight_quant_needs_config(tmp_path, capsys):
    status = converter_main(["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={tmp_path / 'q'}",
                             "--quantType=WeightQuant", f"--debugDir={tmp_path / 'd'}"])
    assert status == 1 and "--debugDir needs --configFile" in capsys.readouterr().err


def test_skip_list_keeps_named_layer_float(calibration, capsys):
    config = read_calibration_config(calibration("skip_quant_node=pw.c,nosuch\n"))
    assert config.skip_quant_node == ("pw.c", "nosuch")
    module = float_model_for(EXAMPLE)
    quantize_post_training(module, None, config, 8)
    assert "nosuch" in capsys.readouterr().err
    ops = {layer_name(op): op for op in module.walk() if isinstance(op, lite.Conv2DOp)}
    skipped = ops["pw.c"]
    assert not isinstance(element_type_of(skipped.results[0].type), UniformQuantizedType)
    assert constant_is_float(skipped.filter)
    assert isinstance(element_type_of(ops["stem.c"].results[0].type), UniformQuantizedType)
    # Its result is not quantized either, so whatever reads it runs in float.
    for use in skipped.results[0].uses:
        assert not isinstance(use.operation, QuantizeCastOp)
        assert all(not isinstance(element_type_of(r.type), UniformQuantizedType) for r in use.operation.results)
    x = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
    reference = Executor(float_model_for(EXAMPLE)).run([x])[0]
    output = Executor(module).run([x])[0]
    assert output.shape == reference.shape and np.isfinite(output).all()


def test_skipping_the_worst_layer_lowers_the_output_error(calibration):
    from quantopt.tools.debug_report import config_samples, layer_report, worst_first

    config = read_calibration_config(calibration())
    float_module = float_model_for(EXAMPLE)
    samples = list(config_samples(config, float_module))
    quantized = float_model_for(EXAMPLE)
    quantize_post_training(quantized, None, config, 8)
    rows, outputs = layer_report(float_module, quantized, samples, isolated_samples=len(samples))
    worst = worst_first(rows)[0]
    assert worst.isolated_rel_error == max(r.isolated_rel_error for r in rows if r.isolated_rel_error is not None)
    skipping = float_model_for(EXAMPLE)
    quantize_post_training(skipping, None, replace(config, skip_quant_node=(worst.layer,)), 8)
    assert output_error(skipping, float_module, samples) < output_error(quantized, float_module, samples)
    assert output_error(quantized, float_module, samples) == pytest.approx(outputs[0].mean_rel_error, rel=1e-6)


def output_errors(module, float_module, samples) -> list[float]:
    from quantopt.tools.metrics import relative_error

    quantized, reference = Executor(module), Executor(float_module)
    return [relative_error(quantized.run(s)[0], reference.run(s)[0]) for s in samples]


def output_error(module, float_module, samples) -> float:
    return float(np.mean(output_errors(module, float_module, samples)))


def test_isolated_error_is_the_error_of_quantizing_that_layer_alone(calibration):
    """The report's isolated error of `pw.c` against an independent construction: the whole pipeline with
    every other layer in the skip list, so only pw.c's weight and result are quantized."""
    from quantopt.tools.debug_report import config_samples, layer_report

    config = read_calibration_config(calibration())
    float_module = float_model_for(EXAMPLE)
    samples = list(config_samples(config, float_module))
    quantized = float_model_for(EXAMPLE)
    quantize_post_training(quantized, None, config, 8)
    rows, _ = layer_report(float_module, quantized, samples, isolated_samples=3)
    row = next(r for r in rows if r.layer == "pw.c")
    alone = float_model_for(EXAMPLE)
    others = tuple(layer_name(op) for op in alone.walk() if op.dialect_name() == "lite" and layer_name(op) != "pw.c")
    quantize_post_training(alone, None, replace(config, skip_quant_node=others), 8)
    for qcast in [op for op in alone.walk() if isinstance(op, QuantizeCastOp)]:
        # what is left: pw.c's result, and the model input's own quantization (no layer's)
        if isinstance(qcast.input, BlockArgument):
            for use in list(qcast.result.uses):
                use.operation.results[0].replace_all_uses_with(qcast.input)
    expected = output_error(alone, float_module, samples[:3])
    assert expected > 1e-4
    assert row.isolated_rel_error == pytest.approx(expected, rel=1e-5)


def constant_is_float(value) -> bool:
    from quantopt.dialects.constant import constant_value

    data = constant_value(value)
    return data is not None and data.dtype == np.float32


def test_skip_list_in_ini_section(tmp_path):
    path = tmp_path / "c.cfg"
    path.write_text("[common_quant_param]\nskip_quant_node=a, b\n[mixed_bit_weight_quant_param]\n"
                    "mean_error_threshold=0.02\n")
    config = read_calibration_config(str(path))
    assert config.skip_quant_node == ("a", "b") and config.mean_error_threshold == 0.02


def test_mixed_bits_keep_the_model_output_error_under_the_threshold(calibration):
    """Quantized with the chosen bits, the model's output error on the search samples is at most the threshold,
    and a looser threshold buys fewer bits."""
    from quantopt.passes.mixed_bit import choose_layer_bits
    from quantopt.passes.weight_quant import quantize_weights
    from quantopt.tools.debug_report import config_samples

    float_module = float_model_for(EXAMPLE)
    samples = list(config_samples(read_calibration_config(calibration()), float_module))
    options = WeightQuantPass(balance_rounding=True)
    uniform8 = float_model_for(EXAMPLE)
    quantize_weights(uniform8, options)
    floor = output_error(uniform8, float_module, samples)
    total_bits = {}
    for threshold in (floor * 1.5, floor * 4, floor * 30):
        chosen = choose_layer_bits(float_module, samples, threshold, options)
        assert chosen and all(2 <= c.bits <= 8 for c in chosen)
        module = float_model_for(EXAMPLE)
        quantize_weights(module, options, {c.layer: c.bits for c in chosen})
        errors = output_errors(module, float_module, samples)
        bound = np.mean(errors) + np.std(errors, ddof=1) / np.sqrt(len(errors))
        assert np.mean(errors) < bound <= threshold
        assert bound == pytest.approx(chosen[-1].error, rel=1e-9)
        total_bits[threshold] = sum(c.bits * c.elements for c in chosen)
    assert list(total_bits.values()) == sorted(total_bits.values(), reverse=True)
    assert total_bits[floor * 30] < total_bits[floor * 1.5] < 8 * sum(c.elements for c in chosen)


def test_mixed_bits_stay_at_8_when_even_8_misses_the_threshold(calibration):
    from quantopt.passes.mixed_bit import choose_layer_bits
    from quantopt.tools.debug_report import config_samples

    module = float_model_for(EXAMPLE)
    samples = list(config_samples(read_calibration_config(calibration()), module))
    chosen = choose_layer_bits(module, samples, 1e-9, WeightQuantPass(balance_rounding=True))
    assert chosen and all(c.bits == 8 for c in chosen)


def test_mixed_bit_converter_needs_config(tmp_path, capsys):
    status = converter_main(["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={tmp_path / 'q'}",
                             "--quantType=WeightQuant", "--bitNum=0"])
    assert status == 1 and "needs --configFile" in capsys.readouterr().err


def test_mixed_bit_converter_writes_model(tmp_path, calibration, capsys):
    from quantopt.backends.ms.reader import read_ms

    out = tmp_path / "mixed"
    status = converter_main(["--fmk=ONNX", f"--modelFile={EXAMPLE}", f"--outputFile={out}", "--quantType=WeightQuant",
                             "--bitNum=0", "--quantWeightChannel=0", f"--configFile={calibration('mean_error_threshold=0.05')}"])
    assert status == 0 and "mixed bits" in capsys.readouterr().out
    x = np.random.default_rng(2).standard_normal((1, 3, 32, 32)).astype(np.float32)
    assert np.isfinite(Executor(read_ms(f"{out}.ms")).run([x])[0]).all()


def test_pass_options_take_skip_lists():
    from quantopt.context import make_context
    from quantopt.passes.lower_to_int8 import LowerToInt8Pass
    from xdsl.passes import PassPipeline

    module = float_model_for(EXAMPLE)
    pipeline = PassPipeline.parse_spec(_available_passes(), 'weight-quant{skip="pw.c,logits"}')
    pipeline.apply(make_context(), module)
    convs = {layer_name(op): op for op in module.walk() if isinstance(op, lite.Conv2DOp)}
    assert constant_is_float(convs["pw.c"].filter) and not constant_is_float(convs["stem.c"].filter)
    assert LowerToInt8Pass(skip="a,b").skip == "a,b"


def _available_passes():
    from quantopt.passes import get_all_passes

    return get_all_passes()
