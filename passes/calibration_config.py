"""Full-quantization config files (MindSpore Lite `--configFile`) and the calibration samples they name.

Two spellings are read, with `#` comments and blank lines allowed:

- r1.3 `key=value` lines: `image_path` (comma-separated directories, one per model input, in input
  order), `batch_count` (100), `method_x` (KL, MAX_MIN or RemovalOutlier; KL), `thread_num` (1),
  `bias_correction` (false);
- the later INI sections: `[common_quant_param]` `quant_type` (WEIGHT_QUANT | FULL_QUANT), `bit_num` (8),
  `min_quant_weight_size` (0), `min_quant_weight_channel` (16); `[data_preprocess_param]`
  `calibrate_path` (`name:dir,name2:dir2` or plain directories in input order), `calibrate_size`,
  `input_type` (BIN only); `[full_quant_param]` `activation_quant_method` (MAX_MIN | KL | REMOVAL_OUTLIER;
  MAX_MIN as upstream's default there), `bias_correction` (true, upstream's default there), `per_channel`
  (true); `[mixed_bit_weight_quant_param]` `mean_error_threshold` (0.04). The r1.3 keys stay accepted
  before the first section.
- `skip_quant_node` (plain, or in `[common_quant_param]`): comma-separated layers to keep in float, named by
  their output tensor (as the `--debugDir` report lists them); `mean_error_threshold` is accepted plain too.

A relative directory is looked up next to the config file first, then in the working directory
(MindSpore Lite only does the latter; the former makes a config and its data movable together).
Every mistake is a `QuantOptError` `error: <config file>: <what> (<line N | key K>)`.

Samples: each directory's `.bin` files in sorted name order, paired across directories by position. Each
file holds the raw little-endian bytes of exactly one input tensor (dtype and shape from the model).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from quantopt.errors import QuantOptError

METHODS = ("KL", "MAX_MIN", "REMOVAL_OUTLIER")
_METHOD_SPELLINGS = {"KL": "KL", "MAX_MIN": "MAX_MIN", "RemovalOutlier": "REMOVAL_OUTLIER",
                     "REMOVAL_OUTLIER": "REMOVAL_OUTLIER"}


@dataclass(frozen=True)
class CalibrationConfig:
    path: str
    input_dirs: tuple[str, ...] = ()
    input_names: tuple[str | None, ...] = ()  # from `name:dir` entries, None for plain directories
    batch_count: int = 100
    method: str = "KL"
    thread_num: int = 1
    bias_correction: bool = False
    quant_type: str | None = None
    bit_num: int = 8
    min_quant_weight_size: int = 0
    min_quant_weight_channel: int = 16
    per_channel: bool = True
    skip_quant_node: tuple[str, ...] = ()  # layers kept in float, by output tensor name
    mean_error_threshold: float = 0.04  # mixed-bit weight quantization: per-layer error bound
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # key -> line, for messages

    def error(self, what: str, key: str | None = None) -> QuantOptError:
        where = None
        if key is not None:
            where = f"line {self.lines[key]}: {key}" if key in self.lines else key
        return QuantOptError(self.path, what, where)


def canonical_method(spelling: str) -> str:
    """KL, MAX_MIN or REMOVAL_OUTLIER for any spelling MindSpore Lite accepts; ValueError otherwise."""
    if spelling not in _METHOD_SPELLINGS:
        raise ValueError(f"unknown method '{spelling}' (expected KL, MAX_MIN, RemovalOutlier or REMOVAL_OUTLIER)")
    return _METHOD_SPELLINGS[spelling]


# -- parsing ---------------------------------------------------------------------------------------------


def _integer(lo: int, hi: int) -> Callable[[str], int]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"'{text}' is not an integer") from None
        if not lo <= value <= hi:
            raise ValueError(f"{value} is out of range [{lo}, {hi}]")
        return value

    return convert


def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(f"'{text}' is not true or false")
    return text.lower() == "true"


def _choice(*choices: str) -> Callable[[str], str]:
    def convert(text: str) -> str:
        if text not in choices:
            raise ValueError(f"'{text}' is not one of {', '.join(choices)}")
        return text

    return convert


def _strict_method(text: str) -> str:
    if text not in METHODS:
        raise ValueError(f"unknown method '{text}' (expected MAX_MIN, KL or REMOVAL_OUTLIER)")
    return text


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise ValueError("empty name in the list")
    return names


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{value} is not a positive number")
    return value


def _text(text: str) -> str:
    if not text:
        raise ValueError("is empty")
    return text


_INT_MAX = 2**31 - 1
# section -> key -> (field of CalibrationConfig, converter)
_KEYS: dict[str | None, dict[str, tuple[str, Callable[[str], object]]]] = {
    None: {
        "image_path": ("input_dirs", _text),
        "batch_count": ("batch_count", _integer(1, _INT_MAX)),
        "method_x": ("method", canonical_method),
        "thread_num": ("thread_num", _integer(1, 1024)),
        "bias_correction": ("bias_correction", _boolean),
        "skip_quant_node": ("skip_quant_node", _names),
        "mean_error_threshold": ("mean_error_threshold", _positive_float),
    },
    "common_quant_param": {
        "quant_type": ("quant_type", _choice("WEIGHT_QUANT", "FULL_QUANT")),
        "bit_num": ("bit_num", _integer(0, 16)),
        "min_quant_weight_size": ("min_quant_weight_size", _integer(0, 65535)),
        "min_quant_weight_channel": ("min_quant_weight_channel", _integer(0, 65535)),
        "skip_quant_node": ("skip_quant_node", _names),
    },
    "data_preprocess_param": {
        "calibrate_path": ("input_dirs", _text),
        "calibrate_size": ("batch_count", _integer(1, 65535)),
        "input_type": ("input_type", _choice("BIN")),  # IMAGE preprocessing is not supported
    },
    "full_quant_param": {
        "activation_quant_method": ("method", _strict_method),
        "bias_correction": ("bias_correction", _boolean),
        "per_channel": ("per_channel", _boolean),
    },
    "mixed_bit_weight_quant_param": {
        "mean_error_threshold": ("mean_error_threshold", _positive_float),
    },
}
_INI_DEFAULTS = {"method": "MAX_MIN", "bias_correction": True}


def read_calibration_config(path: str) -> CalibrationConfig:
    """Parse and check a config file; directories must exist (their files are checked per model later)."""
    if not os.path.isfile(path):
        raise QuantOptError(path, "no such file")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise QuantOptError(path, f"cannot read config file: {err}") from None
    values, lines, ini = _parse(path, text)
    values.pop("input_type", None)  # BIN, the only type accepted
    raw_dirs = values.pop("input_dirs", None)
    if ini:
        values = {**_INI_DEFAULTS, **values}
    config = CalibrationConfig(path=path, lines=lines, **values)
    if config.quant_type == "FULL_QUANT" and not 1 <= config.bit_num <= 8:
        raise config.error(f"bit_num={config.bit_num}: full quantization takes 1 to 8 bits", "bit_num")
    if raw_dirs is None:
        return config
    key = "calibrate_path" if "calibrate_path" in lines else "image_path"
    names, dirs = _split_dirs(config, raw_dirs, key)
    return replace(config, input_dirs=tuple(dirs), input_names=tuple(names))


def _parse(path: str, text: str) -> tuple[dict[str, object], dict[str, int], bool]:
    values: dict[str, object] = {}
    lines: dict[str, int] = {}
    section: str | None = None
    ini = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {number}"
        if line.startswith("["):
            if not line.endswith("]"):
                raise QuantOptError(path, f"malformed section header '{line}'", where)
            section = line[1:-1].strip()
            if section not in _KEYS:
                known = ", ".join(f"[{s}]" for s in _KEYS if s)
                raise QuantOptError(path, f"unknown section [{section}] (known: {known})", where)
            ini = True
            continue
        if "=" not in line:
            raise QuantOptError(path, f"expected key=value, got '{line}'", where)
        key, value = (part.strip() for part in line.split("=", 1))
        known = _KEYS[section]
        if key not in known:
            place = f" in [{section}]" if section else " before any section"
            raise QuantOptError(path, f"unknown key '{key}'{place} (known: {', '.join(known)})", where)
        attribute, convert = known[key]
        if attribute in values:
            first = next(k for k, a in lines.items() if _KEYS_BY_NAME.get(k) == attribute)
            raise QuantOptError(path, f"'{key}' repeats what line {lines[first]} ({first}) already set", where)
        try:
            values[attribute] = convert(value)
        except ValueError as err:
            raise QuantOptError(path, f"bad value for {key}: {err}", f"{where}: {key}") from None
        lines[key] = number
    return values, lines, ini


_KEYS_BY_NAME = {key: attribute for keys in _KEYS.values() for key, (attribute, _) in keys.items()}


def _split_dirs(config: CalibrationConfig, raw: str, key: str) -> tuple[list[str | None], list[str]]:
    names: list[str | None] = []
    dirs: list[str] = []
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            raise config.error("empty directory in the list", key)
        name, sep, rest = entry.partition(":")
        if key == "calibrate_path" and sep and name and "/" not in name and "\\" not in name:
            names.append(name)
            entry = rest.strip()
        else:
            names.append(None)
        dirs.append(_resolve_dir(config, entry, key))
    if any(names) and not all(names):
        raise config.error("give every directory an input name (name:dir) or none", key)
    return names, dirs


def _resolve_dir(config: CalibrationConfig, entry: str, key: str) -> str:
    candidates = [entry] if os.path.isabs(entry) else [
        os.path.join(os.path.dirname(os.path.abspath(config.path)), entry), os.path.abspath(entry)]
    for candidate in candidates:
        if os.path.isdir(candidate):
            return os.path.normpath(candidate)
    raise config.error(f"no such directory '{entry}'", key)


# -- samples ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """One model input as a `.bin` file must hold it."""

    name: str | None
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)


def list_calibration_samples(config: CalibrationConfig, inputs: Sequence[InputSpec],
                             log: Callable[[str], None] = warn) -> list[tuple[str, ...]]:
    """The files of each sample, one per model input, checked for existence and size."""
    dirs = _dirs_in_input_order(config, inputs)
    key = "calibrate_path" if "calibrate_path" in config.lines else "image_path"
    files = []
    for directory in dirs:
        names = sorted(f for f in os.listdir(directory) if f.endswith(".bin"))
        if not names:
            raise config.error(f"no .bin files in '{directory}'", key)
        files.append([os.path.join(directory, f) for f in names])
    count = min(len(f) for f in files)
    if len(files) > 1 and len({len(f) for f in files}) > 1:
        sizes = ", ".join(f"{len(f)} in {d}" for f, d in zip(files, dirs))
        log(f"{config.path}: input directories hold different numbers of .bin files ({sizes}); "
            f"pairing the first {count} of each")
    if count < config.batch_count:
        count_key = "calibrate_size" if "calibrate_size" in config.lines else "batch_count"
        log(f"{config.path}: {count_key}={config.batch_count} but only {count} samples; calibrating on {count}")
    samples = list(zip(*(f[: min(count, config.batch_count)] for f in files)))
    for sample in samples:
        for index, (path, spec) in enumerate(zip(sample, inputs)):
            size = os.path.getsize(path)
            if size != spec.nbytes:
                raise config.error(f"{path} has {size} bytes, input {index} ({spec.name or 'unnamed'}, "
                                   f"{list(spec.shape)} {spec.dtype.name}) needs {spec.nbytes}", key)
    return samples


def _dirs_in_input_order(config: CalibrationConfig, inputs: Sequence[InputSpec]) -> list[str]:
    if not config.input_dirs:
        raise QuantOptError(config.path, "no calibration data: set image_path, or calibrate_path in "
                                         "[data_preprocess_param]")
    key = "calibrate_path" if "calibrate_path" in config.lines else "image_path"
    if len(config.input_dirs) != len(inputs):
        raise config.error(f"{len(config.input_dirs)} director{'y' if len(config.input_dirs) == 1 else 'ies'} "
                           f"for a model with {len(inputs)} input{'s' if len(inputs) != 1 else ''}", key)
    if not any(config.input_names):
        return list(config.input_dirs)
    by_name = dict(zip(config.input_names, config.input_dirs))
    model_names = [spec.name for spec in inputs]
    unknown = [n for n in config.input_names if n not in model_names]
    if unknown or len(by_name) != len(inputs):
        raise config.error(f"input names {', '.join(map(str, config.input_names))} do not match the model's "
                           f"inputs {', '.join(map(str, model_names))}", key)
    return [by_name[name] for name in model_names]


def read_sample(files: Sequence[str], inputs: Sequence[InputSpec]) -> list[np.ndarray]:
    """The input arrays of one sample (sizes were checked when the samples were listed)."""
    return [np.fromfile(path, dtype=spec.dtype.newbyteorder("<")).astype(spec.dtype, copy=False).reshape(spec.shape)
            for path, spec in zip(files, inputs)]
