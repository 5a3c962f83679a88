"""A short fuzz run in the test suite: 40 mutated inputs of every format, small seeds only, one worker.
The long run is `python scripts/fuzz.py`."""

from __future__ import annotations

from .campaign import run_campaign
from .formats import all_formats

CASES_PER_FORMAT = 40


def test_short_fuzz_run_has_no_crash_hang_or_memory_blowup(tmp_path):
    formats = list(all_formats(big=False))
    report = run_campaign(formats, CASES_PER_FORMAT, jobs=1, campaign_seed=0, big=False, out_dir=tmp_path)
    assert sum(sum(s.counts.values()) for s in report.stats.values()) == CASES_PER_FORMAT * len(formats)
    failures = [f"{r.format} case {r.index}: {r.outcome}: {r.error} at {r.where}\n{r.details}" for r in report.failures]
    assert not failures, "\n".join(failures) + f"\n{report.format_table()}\nreproducers in {tmp_path}"
