"""The campaign classifies what a case does, and a hang or a dead worker costs only that case."""

from __future__ import annotations

import os
import signal
import time

from quantopt.errors import QuantOptError

from .campaign import run_campaign
from .formats import Format
from .seeds import Seed


def _crash(path):
    raise RuntimeError("a bug")


def _clean(path):
    raise QuantOptError(str(path), "bad input")


def _allocate(path):
    return bytearray(3 << 30)  # over the 2 GiB address-space limit


def _die(sig: int):
    return lambda path: os.kill(os.getpid(), sig)


PROBES = {"ok": lambda path: None, "clean": _clean, "crash": _crash, "hang": lambda path: time.sleep(60),
          "memory": _allocate, "killed": _die(signal.SIGKILL), "segfault": _die(signal.SIGSEGV)}


def probe_formats(big: bool) -> dict[str, Format]:
    seed = Seed("probe", ".bin", 1, lambda: b"probe")
    return {name: Format(name, [seed], lambda rng, seed, others: (seed.data, "as is"), run)
            for name, run in PROBES.items()}


def test_outcomes_are_classified_and_failing_cases_saved(tmp_path):
    report = run_campaign(list(PROBES), 2, jobs=2, timeout=2, out_dir=tmp_path,
                          registry="fuzz.test_campaign:probe_formats")
    outcomes = {name: dict(s.counts) for name, s in report.stats.items()}
    assert outcomes == {"ok": {"ok": 2}, "clean": {"clean": 2}, "crash": {"crash": 2}, "hang": {"hang": 2},
                        "memory": {"memory": 2}, "killed": {"memory": 2}, "segfault": {"crash": 2}}
    assert {r.error for r in report.failures if r.format in ("killed", "segfault")} == {
        "worker died (SIGKILL)", "worker died (SIGSEGV)"}
    assert sorted(os.listdir(tmp_path / "crash")) == ["crash-0.bin", "crash-0.bin.txt", "crash-1.bin",
                                                      "crash-1.bin.txt"]
    assert "RuntimeError: a bug" in (tmp_path / "crash" / "crash-0.bin.txt").read_text()
