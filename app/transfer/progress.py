"""Progress of a transfer, entity by entity, and the closing report.

On a terminal each entity has a bar redrawn in place (count, total, rate, at most ten times a
second); otherwise (a log, a pipe) a plain line per entity every ten seconds and when it ends.
Tally keeps, per entity, what was read from the source and what became of it: written, already
there (an earlier import or merge brought it), skipped (it conflicts with what is there, or
belongs to something that does) or ignored (something this server does not keep).
"""
from __future__ import annotations

import dataclasses
import sys
import time


@dataclasses.dataclass
class Tally:
    read: int = 0
    written: int = 0
    present: int = 0
    skipped: int = 0
    ignored: int = 0

    def balanced(self) -> bool:
        return self.read == self.written + self.present + self.ignored and not self.skipped

    def add(self, other: "Tally") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


class Progress:
    """progress.start(entity, total); .advance(n) as rows are done; .done() at the end."""

    def __init__(self, stream=None, interval: float | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if interval is not None else (0.1 if self.tty else 10.0)

    def start(self, entity: str, total: int) -> None:
        self.entity, self.total, self.count = entity, total, 0
        self.began = self.shown = time.monotonic()
        if not self.tty:
            self._line(f"{entity}: {total:,} to read")

    def advance(self, rows: int) -> None:
        self.count += rows
        now = time.monotonic()
        if now - self.shown >= self.interval:
            self.shown = now
            self._show(now)

    def done(self) -> None:
        self._show(time.monotonic(), final=True)

    def _show(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self.began, 1e-6)
        rate = self.count / elapsed
        if not self.tty:
            self._line(f"{self.entity}: {self.count:,}/{self.total:,} ({rate:,.0f}/s, {elapsed:.1f} s)")
            return
        width = 30
        filled = width if not self.total else min(width, width * self.count // self.total)
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r{self.entity:<22} [{bar}] {self.count:>12,}/{self.total:<12,} {rate:>10,.0f}/s"
                          f" {elapsed:6.1f} s" + ("\n" if final else ""))
        self.stream.flush()

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def report(tallies: dict[str, Tally], notes: list[str]) -> str:
    """The closing table: one line per entity, then the notes (conflicts, what was ignored)."""
    lines = [f"{'entity':<22} {'read':>12} {'written':>12} {'already there':>14} {'skipped':>9} {'ignored':>9}"]
    for entity, t in tallies.items():
        if t == Tally():
            continue  # nothing of the kind in the source
        mark = "" if t.balanced() else "  <- differs"
        lines.append(f"{entity:<22} {t.read:>12,} {t.written:>12,} {t.present:>14,} {t.skipped:>9,} "
                     f"{t.ignored:>9,}{mark}")
    return "\n".join(lines + notes)
