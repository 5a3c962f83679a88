"""Calibration config files: both spellings, defaults, directory resolution, sample listing, and the exact
message of every mistake."""

import numpy as np
import pytest

from quantopt.errors import QuantOptError
from quantopt.passes.calibration_config import (
    CalibrationConfig,
    InputSpec,
    list_calibration_samples,
    read_calibration_config,
    read_sample,
)

ONE_INPUT = [InputSpec("x", (1, 4), np.dtype(np.float32))]


def write_bins(directory, names, shape=(1, 4), fill=None):
    directory.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        np.full(shape, k if fill is None else fill, np.float32).tofile(directory / name)
    return directory


def config_file(tmp_path, text, name="quant.cfg"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def message(excinfo) -> str:
    return excinfo.value.message


def test_r13_defaults(tmp_path):
    write_bins(tmp_path / "images", ["a.bin"])
    config = read_calibration_config(config_file(tmp_path, "image_path=images\n"))
    assert config.input_dirs == (str(tmp_path / "images"),)
    assert (config.batch_count, config.method, config.thread_num, config.bias_correction) == (100, "KL", 1, False)


def test_r13_keys_with_comments_and_blank_lines(tmp_path):
    write_bins(tmp_path / "a", ["0.bin"])
    write_bins(tmp_path / "b", ["0.bin"])
    text = ("# calibration\n\n  image_path = a, b  \nbatch_count=20\n# method\nmethod_x=RemovalOutlier\n"
            "thread_num=2\nbias_correction=TRUE\n")
    config = read_calibration_config(config_file(tmp_path, text))
    assert config.input_dirs == (str(tmp_path / "a"), str(tmp_path / "b"))
    assert (config.batch_count, config.method, config.thread_num, config.bias_correction) == (
        20, "REMOVAL_OUTLIER", 2, True)


def test_ini_sections_and_their_defaults(tmp_path):
    write_bins(tmp_path / "in1", ["0.bin"])
    write_bins(tmp_path / "in2", ["0.bin"])
    text = ("[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=7\nmin_quant_weight_size=10\n"
            "min_quant_weight_channel=4\n[data_preprocess_param]\ncalibrate_path=b:in2,a:in1\ncalibrate_size=50\n"
            "input_type=BIN\n[full_quant_param]\nper_channel=false\n")
    config = read_calibration_config(config_file(tmp_path, text))
    assert config.input_names == ("b", "a")
    assert config.input_dirs == (str(tmp_path / "in2"), str(tmp_path / "in1"))
    assert (config.quant_type, config.bit_num, config.min_quant_weight_size, config.min_quant_weight_channel) == (
        "FULL_QUANT", 7, 10, 4)
    # upstream's defaults in the INI form: MAX_MIN, bias correction on
    assert (config.batch_count, config.method, config.bias_correction, config.per_channel) == (
        50, "MAX_MIN", True, False)
    text = "[full_quant_param]\nactivation_quant_method=REMOVAL_OUTLIER\nbias_correction=false\n"
    config = read_calibration_config(config_file(tmp_path, text, "b.cfg"))
    assert (config.method, config.bias_correction, config.input_dirs) == ("REMOVAL_OUTLIER", False, ())


def test_relative_directories_next_to_the_config_first_then_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    write_bins(tmp_path / "conf" / "data", ["0.bin"])
    write_bins(tmp_path / "cwd" / "data", ["0.bin"])
    write_bins(tmp_path / "cwd" / "only_here", ["0.bin"])
    monkeypatch.chdir(tmp_path / "cwd")
    path = config_file(tmp_path / "conf", "image_path=data,only_here\n")
    assert read_calibration_config(path).input_dirs == (str(tmp_path / "conf" / "data"),
                                                        str(tmp_path / "cwd" / "only_here"))


@pytest.mark.parametrize("text, expected", [
    ("image_path=imgs\nbatch_size=3\n", "unknown key 'batch_size' before any section (known: image_path, batch_count, "
                                        "method_x, thread_num, bias_correction, skip_quant_node, "
                                        "mean_error_threshold) (line 2)"),
    ("method_x=MEAN\n", "bad value for method_x: unknown method 'MEAN' (expected KL, MAX_MIN, RemovalOutlier or "
                        "REMOVAL_OUTLIER) (line 1: method_x)"),
    ("batch_count=ten\n", "bad value for batch_count: 'ten' is not an integer (line 1: batch_count)"),
    ("\nbatch_count=0\n", "bad value for batch_count: 0 is out of range [1, 2147483647] (line 2: batch_count)"),
    ("thread_num=-1\n", "bad value for thread_num: -1 is out of range [1, 1024] (line 1: thread_num)"),
    ("bias_correction=yes\n", "bad value for bias_correction: 'yes' is not true or false (line 1: bias_correction)"),
    ("image_path\n", "expected key=value, got 'image_path' (line 1)"),
    ("image_path=nowhere\n", "no such directory 'nowhere' (line 1: image_path)"),
    ("image_path=imgs,\n", "empty directory in the list (line 1: image_path)"),
    ("batch_count=1\nbatch_count=2\n", "'batch_count' repeats what line 1 (batch_count) already set (line 2)"),
    ("image_path=imgs\n[data_preprocess_param]\ncalibrate_path=imgs\n",
     "'calibrate_path' repeats what line 1 (image_path) already set (line 3)"),
    ("[weight_quant_param]\n", "unknown section [weight_quant_param] (known: [common_quant_param], "
                               "[data_preprocess_param], [full_quant_param], "
                               "[mixed_bit_weight_quant_param]) (line 1)"),
    ("[full_quant_param\n", "malformed section header '[full_quant_param' (line 1)"),
    ("[full_quant_param]\nactivation_quant_method=RemovalOutlier\n",
     "bad value for activation_quant_method: unknown method 'RemovalOutlier' (expected MAX_MIN, KL or "
     "REMOVAL_OUTLIER) (line 2: activation_quant_method)"),
    ("[full_quant_param]\nimage_path=imgs\n", "unknown key 'image_path' in [full_quant_param] (known: "
                                              "activation_quant_method, bias_correction, per_channel) (line 2)"),
    ("[data_preprocess_param]\ninput_type=IMAGE\n",
     "bad value for input_type: 'IMAGE' is not one of BIN (line 2: input_type)"),
    ("[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=9\n",
     "bit_num=9: full quantization takes 1 to 8 bits (line 3: bit_num)"),
    ("[data_preprocess_param]\ncalibrate_path=a:imgs,imgs\n",
     "give every directory an input name (name:dir) or none (line 2: calibrate_path)"),
])
def test_config_mistakes(tmp_path, text, expected):
    write_bins(tmp_path / "imgs", ["0.bin"])
    path = config_file(tmp_path, text)
    with pytest.raises(QuantOptError) as excinfo:
        read_calibration_config(path)
    assert message(excinfo) == f"error: {path}: {expected}"


def test_missing_config_file(tmp_path):
    with pytest.raises(QuantOptError) as excinfo:
        read_calibration_config(str(tmp_path / "none.cfg"))
    assert message(excinfo) == f"error: {tmp_path / 'none.cfg'}: no such file"


# -- samples ---------------------------------------------------------------------------------------------


def test_samples_in_sorted_order_up_to_batch_count(tmp_path, capsys):
    write_bins(tmp_path / "imgs", ["b.bin", "a.bin", "c.bin", "notes.txt"])
    config = read_calibration_config(config_file(tmp_path, "image_path=imgs\nbatch_count=2\n"))
    samples = list_calibration_samples(config, ONE_INPUT)
    assert samples == [(str(tmp_path / "imgs" / "a.bin"),), (str(tmp_path / "imgs" / "b.bin"),)]
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(read_sample(samples[0], ONE_INPUT)[0], np.full((1, 4), 1, np.float32))


def test_fewer_files_than_batch_count_warns_and_uses_them(tmp_path, capsys):
    write_bins(tmp_path / "imgs", ["0.bin", "1.bin", "2.bin"])
    path = config_file(tmp_path, "image_path=imgs\n")
    samples = list_calibration_samples(read_calibration_config(path), ONE_INPUT)
    assert len(samples) == 3
    assert capsys.readouterr().err == f"WARNING: {path}: batch_count=100 but only 3 samples; calibrating on 3\n"


def test_directories_are_paired_in_sorted_order_and_cut_to_the_shortest(tmp_path, capsys):
    write_bins(tmp_path / "a", ["s2.bin", "s10.bin", "s1.bin"])
    write_bins(tmp_path / "b", ["t1.bin", "t2.bin"])
    path = config_file(tmp_path, "image_path=a,b\nbatch_count=2\n")
    samples = list_calibration_samples(read_calibration_config(path), ONE_INPUT * 2)
    a, b = tmp_path / "a", tmp_path / "b"
    assert samples == [(str(a / "s1.bin"), str(b / "t1.bin")), (str(a / "s10.bin"), str(b / "t2.bin"))]
    assert capsys.readouterr().err == (f"WARNING: {path}: input directories hold different numbers of .bin files "
                                       f"(3 in {a}, 2 in {b}); pairing the first 2 of each\n")


def test_named_directories_follow_the_model_inputs(tmp_path):
    write_bins(tmp_path / "for_x", ["0.bin"])
    write_bins(tmp_path / "for_y", ["0.bin"])
    text = "[data_preprocess_param]\ncalibrate_path=y:for_y,x:for_x\n"
    config = read_calibration_config(config_file(tmp_path, text))
    inputs = [InputSpec("x", (1, 4), np.dtype(np.float32)), InputSpec("y", (1, 4), np.dtype(np.float32))]
    assert list_calibration_samples(config, inputs) == [(str(tmp_path / "for_x" / "0.bin"),
                                                         str(tmp_path / "for_y" / "0.bin"))]


@pytest.mark.parametrize("text, inputs, expected", [
    ("image_path=imgs\n", ONE_INPUT * 2, "1 directory for a model with 2 inputs (line 1: image_path)"),
    ("image_path=empty\n", ONE_INPUT, "no .bin files in '{tmp}/empty' (line 1: image_path)"),
    ("image_path=imgs\n", [InputSpec("x", (1, 5), np.dtype(np.float32))],
     "{tmp}/imgs/0.bin has 16 bytes, input 0 (x, [1, 5] float32) needs 20 (line 1: image_path)"),
    ("[data_preprocess_param]\ncalibrate_path=z:imgs\n", ONE_INPUT,
     "input names z do not match the model's inputs x (line 2: calibrate_path)"),
    ("batch_count=3\n", ONE_INPUT, "no calibration data: set image_path, or calibrate_path in [data_preprocess_param]"),
])
def test_sample_mistakes(tmp_path, text, inputs, expected):
    write_bins(tmp_path / "imgs", ["0.bin"])
    (tmp_path / "empty").mkdir()
    path = config_file(tmp_path, text)
    with pytest.raises(QuantOptError) as excinfo:
        list_calibration_samples(read_calibration_config(path), inputs)
    assert message(excinfo) == f"error: {path}: {expected.format(tmp=tmp_path)}"


def test_config_error_names_a_key_without_a_line():
    config = CalibrationConfig(path="q.cfg")
    assert config.error("bad", "image_path").message == "error: q.cfg: bad (image_path)"
