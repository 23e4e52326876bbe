"""What every backup engine is and returns, apart from any vendor: the ``Engine`` protocol, the
``Dump`` it yields and the ``EngineError`` it raises.

An engine is a module with the same functions:

- ``preflight(alias) -> dict``: versions; raises CannotRun with the exact fix when it cannot run;
- ``open_dump(alias, schema_only, exact_count_limit, *, allow_partial)``: a context manager
  yielding a ``Dump`` (``allow_partial`` matters only to engines that can leave tables out);
- ``check_archive(chunks) -> dict``: read the whole raw dump and check its table of contents;
- ``restore_test(alias, chunks, manifest) -> dict[str, int]``: restore into a scratch database,
  count rows;
- ``restore(alias, chunks, manifest) -> dict | None``: restore into the live database in one
  transaction, or not at all; what it returns goes into the report (``grants``: privileges
  granted again, ``grants_lost``: the ones that could not be, each a line);
- ``leftover_tables(alias, manifest) -> list[str]``: tables of the live database that
  ``restore`` would leave in place though the backup does not hold them;
- ``replica_lock(alias, lock_dir)``: a context manager yielding True when this process holds it;
- ``analyze_restored(alias, manifest) -> dict``: ANALYZE what ``restore`` loaded (``tables``,
  ``seconds``), so the planner has statistics straight away;
- ``sweep_scratch(alias, dry_run=False) -> list[str]``: drop the scratch databases that killed
  restore tests left (only ones no live run holds).

``chunks`` are the *decompressed* bytes of a dump, streamed (bounded memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


class EngineError(Exception):
    """The engine ran but failed (pg_dump exited non-zero, a corrupt archive...).

    The message is already masked and says what happened.
    """


@dataclass
class Dump:
    """A dump in progress: its raw bytes as an iterator, and what the engine knows about it."""

    chunks: Iterator[bytes]
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    NAME: str
    SUFFIX: str
    # How the raw dump frames its text rows for backup.columns ("plain", "pg_custom"), or None
    # when it holds no text rows worth laying out in columns.
    ROW_FRAMING: str | None

    def preflight(self, alias: str) -> dict[str, Any]: ...

    def open_dump(
        self, alias: str, schema_only: bool, exact_count_limit: int, *, allow_partial: bool = False
    ) -> AbstractContextManager[Dump]: ...

    def check_archive(self, chunks: Iterator[bytes]) -> dict[str, Any]: ...

    def restore_test(
        self, alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None
    ) -> dict[str, int]: ...

    def restore(
        self, alias: str, chunks: Iterator[bytes], manifest: dict[str, Any] | None = None
    ) -> dict[str, Any] | None: ...

    def replica_lock(self, alias: str, lock_dir: Path) -> AbstractContextManager[bool]: ...

    def analyze_restored(
        self, alias: str, manifest: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...

    def sweep_scratch(self, alias: str, *, dry_run: bool = False) -> list[str]: ...
