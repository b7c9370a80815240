"""Progress of long work: a tqdm bar on a terminal, plain lines in a log file.

tqdm draws nothing when its output is not a terminal (`disable=None`), which is right for
CI logs but leaves a paper-scale run in the background silent between epoch lines (a
VAE-GAN epoch on a 2-core CPU is 17 minutes; 10,000 images through Inception 22). Where
the bar is off, `Progress` logs one line every `every` seconds instead:

    epoch 3/20: 400/782 batch (51%), 0.79 batch/s, about 8.1 min left; d_loss 0.4121, g_loss 2.09

`every` defaults to the GENLAB_PROGRESS_SECONDS environment variable, else 60; 0 turns the
lines off. Neither changes any figure, so neither is a parameter in params.yaml.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Mapping

from tqdm.auto import tqdm

DEFAULT_EVERY = 60.0


def progress_every() -> float:
    """Seconds between plain progress lines: GENLAB_PROGRESS_SECONDS, else 60; 0 = none."""
    raw = os.environ.get("GENLAB_PROGRESS_SECONDS")
    if raw is None or raw.strip() == "":
        return DEFAULT_EVERY
    try:
        every = float(raw)
    except ValueError:
        every = float("nan")
    if not every >= 0:   # also refuses NaN
        raise ValueError(f"GENLAB_PROGRESS_SECONDS={raw!r}: expected seconds (a number >= 0; 0 = no lines)")
    return every


def format_seconds(seconds: float) -> str:
    """'42 s', '8.1 min', '2.3 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Counts `total` units of work from `initial`; a bar where tqdm draws one, else a line every `every` s."""

    def __init__(self, total: int, desc: str, unit: str, *, initial: int = 0, every: float | None = None,
                 log: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic):
        self.total, self.desc, self.unit, self.log, self.clock = total, desc, unit, log, clock
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                        mininterval=1.0, disable=None)
        self.plain = bool(self.bar.disable)
        self.every = progress_every() if every is None else every
        self.n = self.start_n = initial
        self.start = self.last = clock()

    def update(self, n: int = 1, figures: Mapping[str, float] | None = None) -> None:
        """`n` more units done; `figures` (the latest step's losses) go on the bar or the line."""
        self.n += n
        if not self.plain:
            self.bar.update(n)
            if figures:
                self.bar.set_postfix({k: f"{float(v):.4g}" for k, v in figures.items()}, refresh=False)
            return
        now = self.clock()
        if self.every <= 0 or now - self.last < self.every or self.n >= self.total:
            return  # the caller reports the end itself (an epoch line, a result)
        self.last = now
        self.log(self.line(now, figures))

    def line(self, now: float, figures: Mapping[str, float] | None = None) -> str:
        done = self.n - self.start_n
        rate = done / max(now - self.start, 1e-9)
        text = f"{self.desc}: {self.n}/{self.total} {self.unit} ({100 * self.n / max(self.total, 1):.0f}%), "
        text += f"{rate:.3g} {self.unit}/s"
        if rate > 0:
            text += f", about {format_seconds((self.total - self.n) / rate)} left"
        if figures:
            text += "; " + ", ".join(f"{k} {float(v):.4g}" for k, v in figures.items())
        return text

    def close(self) -> None:
        self.bar.close()
