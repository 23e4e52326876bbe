"""The one report model every command builds: Severity, Finding, Report, exit codes."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.IntEnum):
    OK = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        if isinstance(value, Severity):
            return value
        try:
            return cls[str(value).upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise CannotRun(f"unknown severity {value!r}: use one of {choices}") from None


class ExitCode(enum.IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2  # also "failed" for action commands
    CANNOT_RUN = 3
    INTERRUPTED = 130  # Ctrl-C (SIGINT), as a shell reports a process it interrupted


class CannotRun(Exception):
    """An expected failure: bad input, unknown name, missing prerequisite.

    The message is one line that says what happened and what to do. Commands turn it
    into that line on stderr and exit code 3, never a traceback.
    """


@dataclass(frozen=True)
class Finding:
    """One thing a command found.

    ``rank`` orders findings of the same severity by how urgently they should be fixed
    (lower first). ``data`` holds machine-readable facts: a metric's value and threshold,
    a table name, a migration.
    """

    id: str
    severity: Severity
    title: str
    detail: str = ""
    fix: str = ""
    rank: int = 50
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity.label,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
        }
        if self.data:
            out["data"] = self.data
        return out


REPORT = "report"
ACTION = "action"


@dataclass
class Report:
    """Findings plus command-specific data (``extras``), rendered by ``render.py``.

    ``kind`` is ``"report"`` (exit 0 ok/info, 1 warning, 2 critical) or ``"action"``
    (exit 0 done, warnings allowed; 2 failed).
    """

    command: str
    kind: str = REPORT
    findings: list[Finding] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    # What happened, in one line: text shows it under the status line, JSON as "headline".
    headline: str = ""
    # Lines the text renderer prints instead of an extra's generic rendering ([] hides it);
    # JSON keeps every extra whole. A long rollback plan becomes its counts and its file.
    text_summary: dict[str, list[str]] = field(default_factory=dict)
    cannot_run: bool = False  # the command could not run (bad input): exit 3 whatever it found
    interrupted: bool = False  # stopped by Ctrl-C: exit 130 whatever it found

    def add(
        self,
        id: str,
        severity: Severity,
        title: str,
        detail: str = "",
        fix: str = "",
        rank: int = 50,
        **data: Any,
    ) -> Finding:
        finding = Finding(id, severity, title, detail, fix, rank, dict(data))
        self.findings.append(finding)
        return finding

    def extend(self, findings: list[Finding]) -> None:
        self.findings.extend(findings)

    def finish(self) -> Report:
        if self.finished is None:
            self.finished = time.monotonic()
        return self

    @property
    def duration_s(self) -> float:
        end = self.finished if self.finished is not None else time.monotonic()
        return round(end - self.started, 3)

    @property
    def status(self) -> Severity:
        return max((f.severity for f in self.findings), default=Severity.OK)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.cannot_run:
            return ExitCode.CANNOT_RUN
        status = self.status
        if self.kind == ACTION:
            return ExitCode.CRITICAL if status is Severity.CRITICAL else ExitCode.OK
        if status is Severity.CRITICAL:
            return ExitCode.CRITICAL
        if status is Severity.WARNING:
            return ExitCode.WARNING
        return ExitCode.OK

    def sorted_findings(self) -> list[Finding]:
        """Most severe first, then most urgent (lowest rank), then by id for stability."""
        return sorted(self.findings, key=lambda f: (-f.severity, f.rank, f.id))

    def problems(self) -> list[Finding]:
        return [f for f in self.sorted_findings() if f.severity >= Severity.WARNING]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": self.command,
            "status": self.status.label,
            "exit_code": int(self.exit_code),
            "duration_s": self.duration_s,
            "findings": [f.as_dict() for f in self.sorted_findings()],
        }
        if self.headline:
            out["headline"] = self.headline
        for key, value in self.extras.items():
            out.setdefault(key, value)
        return out
