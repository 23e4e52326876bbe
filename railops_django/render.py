"""The only place that turns a Report into text, JSON, Markdown or OpenMetrics.

Every renderer first masks the report's data (findings and extras) with ``redact`` and then
formats only that masked copy: masking is done on values, never on the rendered text, so JSON
comes straight from ``json.dumps`` and is always valid, and text shows keys and names as they
are.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

from . import redact
from .private_dirs import private_dir
from .report import Finding, Report, Severity

FORMATS = ("text", "json")

_COLOURS = {
    Severity.CRITICAL: "\x1b[1;31m",
    Severity.WARNING: "\x1b[33m",
    Severity.INFO: "\x1b[36m",
    Severity.OK: "\x1b[32m",
}
_RESET = "\x1b[0m"
_WIDTH = 8  # "CRITICAL"


def masked_report(report: Report) -> Report:
    """A copy of ``report`` whose every string (ids, titles, details, fixes, finding data,
    extras, keys included) is masked, and whose data holds only JSON types."""
    secrets = redact.known_secrets()  # gathered once for the whole report

    def mask(value: Any) -> Any:
        return redact.mask_value(value, secrets)

    findings = [
        Finding(
            id=mask(f.id),
            severity=f.severity,
            title=mask(f.title),
            detail=mask(f.detail),
            fix=mask(f.fix),
            rank=f.rank,
            data=mask(f.data),
        )
        for f in report.findings
    ]
    return dataclasses.replace(  # every other field (kind, headline, ...) kept as it is
        report,
        command=mask(report.command),
        findings=findings,
        extras=mask(report.extras),
        headline=mask(report.headline),
        text_summary=mask(report.text_summary),
    )


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {_finite_key(key): _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _finite_key(key: Any) -> Any:
    return str(key) if isinstance(key, float) and not math.isfinite(key) else key


def _badge(severity: Severity, color: bool) -> str:
    text = severity.label.upper().ljust(_WIDTH)
    return f"{_COLOURS[severity]}{text}{_RESET}" if color else text


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def _scalar(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if value is None:
        return "-"
    if isinstance(value, dict | list):  # already masked, made of JSON types only
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_INLINE = 100  # characters: a nested value longer than this gets lines of its own


def _table(rows: list[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    cells = [[_scalar(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for r in cells:
        lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return lines


def _extra_lines(name: str, value: Any) -> list[str]:
    title = name.replace("_", " ")
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [f"{title}:", *_table(value)]
    if isinstance(value, list):
        return [f"{title}:", *(f"  - {_scalar(v)}" for v in value)] if value else []
    if isinstance(value, dict):
        if not value:
            return []
        lines = [f"{title}:"]
        for key, item in value.items():
            lines.extend(_nested_lines(key, item))
        return lines
    return [f"{title}: {_scalar(value)}"]


def _nested_lines(key: str, item: Any) -> list[str]:
    """One value of a dict extra: inline when short, else a table, one line per item, or (for
    deeper structures, such as reverse SQL per migration) a count that points to the JSON."""
    if isinstance(item, list) and item and all(isinstance(v, dict) for v in item):
        return [f"  {key}:", *("  " + line for line in _table(item))]
    inline = _scalar(item)
    if not isinstance(item, dict | list) or len(inline) <= _INLINE:
        return [f"  {key}: {inline}"]
    items = item.items() if isinstance(item, dict) else enumerate(item)
    if any(isinstance(v, dict | list) for _, v in items):
        return [f"  {key}: {len(item)} entries (in full with --format json)"]
    if isinstance(item, dict):
        return [f"  {key}:", *(f"    {k}: {_scalar(v)}" for k, v in item.items())]
    return [f"  {key}:", *(f"    - {_scalar(v)}" for v in item)]


def _finding_lines(finding: Finding, color: bool, number: int | None = None) -> list[str]:
    head = f"{_badge(finding.severity, color)}  {finding.title}  [{finding.id}]"
    if number is not None:
        head = f"{number:>2}. {head}"
    pad = " " * (4 if number is not None else 0) + " " * (_WIDTH + 2)
    lines = [head]
    if finding.detail:
        lines.append(_indent(finding.detail, pad))
    if finding.fix and finding.severity >= Severity.INFO:
        lines.append(_indent("fix: " + finding.fix, pad))
    return lines


def text(report: Report, color: bool = False) -> str:
    report = masked_report(report.finish())
    counts = {s: 0 for s in Severity}
    for f in report.findings:
        counts[f.severity] += 1
    summary = ", ".join(f"{n} {s.label}" for s, n in sorted(counts.items(), reverse=True) if n)
    status = _badge(report.status, color).strip()
    lines = [f"{report.command}: {status} ({summary or 'no findings'}) in {report.duration_s:.2f}s"]
    if report.headline:
        lines.append(report.headline)
    problems = report.problems()
    if problems:
        lines += ["", "Fix these first:"]
        for number, finding in enumerate(problems, 1):
            lines += _finding_lines(finding, color, number)
    rest = [f for f in report.sorted_findings() if f.severity < Severity.WARNING]
    if rest:
        lines += ["", "Also checked:" if problems else "Checked:"]
        for finding in rest:
            lines += _finding_lines(finding, color)
    for name, value in report.extras.items():
        summary_lines = report.text_summary.get(name)
        extra = _extra_lines(name, value) if summary_lines is None else summary_lines
        if extra:
            lines += ["", *extra]
    return "\n".join(lines) + "\n"


def as_json(report: Report) -> str:
    payload = _finite(masked_report(report.finish()).as_dict())
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def markdown(report: Report) -> str:
    report = masked_report(report.finish())
    lines = [
        f"# {report.command}: {report.status.label}",
        "",
        f"Duration: {report.duration_s:.2f}s",
        "",
        "| # | severity | id | title | fix |",
        "|---|---|---|---|---|",
    ]
    for number, f in enumerate(report.sorted_findings(), 1):
        cells = [str(number), f.severity.label, f"`{f.id}`", f.title, f.fix]
        lines.append(
            "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"
        )
    for f in report.sorted_findings():
        if f.detail:
            lines += ["", f"## {f.id}", "", f.detail]
    return "\n".join(lines) + "\n"


def _om_label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(report: Report) -> str:
    """OpenMetrics text exposition of ``report.extras["metrics"]`` plus the report's status.

    Each metric row is ``{"name", "value", "labels", "warning", "critical", "severity"}``; rows
    with a non-numeric value are skipped. Thresholds are exported as ``<name>_threshold``.
    """
    report = masked_report(report.finish())
    command = report.command
    lines = [
        "# TYPE railops_status gauge",
        "# HELP railops_status Worst severity: 0 ok, 1 info, 2 warning, 3 critical.",
        f'railops_status{{command="{_om_label(command)}"}} {int(report.status)}',
        "# TYPE railops_findings gauge",
        "# HELP railops_findings Findings by severity.",
    ]
    counts = {s: 0 for s in Severity}
    for f in report.findings:
        counts[f.severity] += 1
    for severity, count in counts.items():
        labels = f'command="{_om_label(command)}",severity="{severity.label}"'
        lines.append(f"railops_findings{{{labels}}} {count}")
    families: dict[str, list[dict[str, Any]]] = {}
    for row in report.extras.get("metrics") or []:
        value = row.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        families.setdefault(str(row["name"]), []).append(row)
    for name, rows in families.items():
        unit = rows[0].get("unit") or ""
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"# HELP {name} {_om_label(unit)}".rstrip())
        for row in rows:
            labels = ",".join(f'{k}="{_om_label(v)}"' for k, v in sorted(row["labels"].items()))
            braces = f"{{{labels}}}" if labels else ""
            lines.append(f"{name}{braces} {float(row['value']):g}")
        if any(r.get("warning") is not None for r in rows):
            lines.append(f"# TYPE {name}_threshold gauge")
            for row in rows:
                for level in ("warning", "critical"):
                    if row.get(level) is None:
                        continue
                    pairs = {**row["labels"], "level": level}
                    labels = ",".join(f'{k}="{_om_label(v)}"' for k, v in sorted(pairs.items()))
                    lines.append(f"{name}_threshold{{{labels}}} {float(row[level]):g}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Report], str]] = {"json": as_json, "openmetrics": openmetrics}


def render(report: Report, fmt: str, color: bool = False) -> str:
    report.finish()
    if fmt == "text":
        return text(report, color=color)
    return RENDERERS[fmt](report)


def write_private_file(path: Path, content: str | bytes) -> None:
    """Write atomically with mode 0600 (reports and manifests can describe infrastructure)."""
    path = Path(path)
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = content.encode() if isinstance(content, str) else content
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_report_file(report: Report, path: Path) -> None:
    """``--output FILE``: masked Markdown for ``.md``, masked JSON otherwise."""
    content = markdown(report) if Path(path).suffix.lower() == ".md" else as_json(report)
    write_private_file(Path(path), content)


_MIB = 1_048_576


def _unit(size: float) -> tuple[int, str]:
    """The unit a size of ``size`` bytes reads best in: a 40 KiB dump is not "0.0 of ~0.0 MiB"."""
    for scale, unit in ((1 << 30, "GiB"), (_MIB, "MiB"), (1 << 10, "KiB")):
        if size >= scale:
            return scale, unit
    return 1, "B"


def _rate(per_second: float) -> str:
    scale, unit = _unit(per_second)
    return f"{per_second / scale:,.1f} {unit}/s"


class Progress:
    """Progress of a long byte stream on stderr: bytes done of an estimated total, rate, ETA.

    On a terminal one line is redrawn in place (every 0.25 s at most). Without one (Railway's
    logs) a plain line is printed every ``PLAIN_EVERY`` seconds, and one when it is done. Never
    with a machine format: the command passes ``enabled=False`` then.

    ``active()`` makes it the progress of the code below (``current_progress()``), so a stream deep
    in the backup modules reports without a callback threaded through every layer.
    """

    TTY_EVERY = 0.25
    PLAIN_EVERY = 10.0

    def __init__(
        self,
        stream: IO[str] | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = self.tty if enabled is None else enabled
        self.clock = clock
        self.started = clock()
        self._last = self.started
        self._line = ""

    def line(self, done: int, label: str, total: int | None, now: float) -> str:
        elapsed = max(now - self.started, 1e-6)
        rate = done / elapsed
        scale, unit = _unit(max(done, total or 0))
        text = f"{label} {done / scale:,.1f}"
        if total and total > 0:
            pct = min(100, round(100 * done / total))
            text += f" of ~{total / scale:,.1f} {unit} ({pct} %), {_rate(rate)}"
            if rate > 0 and done < total:
                text += f", ETA {(total - done) / rate:,.0f}s"
        else:
            text += f" {unit}, {_rate(rate)}"
        return f"{text}, {elapsed:,.0f}s"

    def bytes(self, done: int, label: str = "", total: int | None = None) -> None:
        if not self.enabled:
            return
        now = self.clock()
        self._line = self.line(done, label, total, now)
        if now - self._last < (self.TTY_EVERY if self.tty else self.PLAIN_EVERY):
            return
        self._last = now
        self.stream.write(f"\r{self._line}" if self.tty else f"{self._line}\n")
        self.stream.flush()

    def done(self, outcome: str = "done") -> None:
        """The last figures; ``outcome`` says how the stream ended ("done", "interrupted",
        "failed"), and a terminal's line shows it unless it is done."""
        if not self.enabled or not self._line:
            return
        if self.tty:  # the final figures, then the line is left as it is
            suffix = "" if outcome == "done" else f" ({outcome})"
            self.stream.write(f"\r{self._line}{suffix}\n")
        else:
            self.stream.write(f"{self._line} ({outcome})\n")
        self.stream.flush()
        self._line = ""

    @contextmanager
    def active(self) -> Iterator[Progress]:
        token = _active.set(self)
        outcome = "done"
        try:
            yield self
        except BaseException as exc:
            outcome = ended_by(exc)
            raise
        finally:
            _active.reset(token)
            self.done(outcome)


def ended_by(exc: BaseException) -> str:
    """How a stream that ``exc`` stopped ended, for its progress line."""
    return "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"


_active: ContextVar[Progress | None] = ContextVar("railops_progress", default=None)


def current_progress() -> Progress | None:
    """The Progress a command set for this context. Take it before handing a stream to another
    thread: a context variable does not follow the work into a new thread."""
    return _active.get()
