"""The release ledger outlives a restore: it is the history of the deploys, not the app's data.

The ledger (``railops_django_release``) lives in the database it describes, so restoring a
backup used to put back the ledger of the moment of the backup: the releases deployed since
were gone from ``railway_deploy --history``, the next deploy took the id of one of them
again, and recovery read a previous release as the current one. ``read`` takes the live
ledger before the restore and ``put_back`` writes it over the restored one afterwards, with
what the restore undid marked: a release the backup does not hold, or whose own pre-deploy
backup was restored, is ``rolled_back`` (a failed one stays ``failed``).

Restoring into a database that had no ledger keeps the backup's.

The health samples (``db_health --record``, the dashboard's history) are history too: the ones
recorded since the backup was taken (``samples_since``) are put back beside the restored ones
(``put_samples_back``), so the charts do not lose the hours before an emergency restore. Only
those are read, so the memory this takes is bounded by the time since the backup.
"""

from __future__ import annotations

from typing import Any

from django.core.management.color import no_style
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

# Models are imported where they are used: ``python -m railops_django unpack`` imports the
# backup package without a configured Django.


def read(alias: str) -> list[dict[str, Any]]:
    """Every row of the live ledger (none when the database has no ledger table)."""
    from ..models import Release, table_ready

    if not table_ready(Release, alias):
        return []
    return [dict(row) for row in Release.objects.using(alias).order_by("id").values()]


def put_back(alias: str, rows: list[dict[str, Any]], backup_name: str) -> list[int]:
    """Write ``rows`` (from ``read``) over the restored ledger; the ids marked rolled back.

    Raises DatabaseError when the restored database has no ledger table (a backup from before
    railops was installed) or it cannot be written.
    """
    from ..models import Release, table_ready

    if not rows:
        return []
    connections[alias].close()  # the restore replaced the database under this connection
    if not table_ready(Release, alias):
        raise DatabaseError("the restored database has no release ledger table")
    restored = set(Release.objects.using(alias).values_list("id", flat=True))
    rolled: list[int] = []
    now = timezone.now()
    with transaction.atomic(using=alias):
        for row in rows:
            row = dict(row)
            undone = row["id"] not in restored or (
                backup_name and row.get("backup_name") == backup_name
            )
            if undone and row["status"] in (Release.Status.STARTED, Release.Status.SUCCEEDED):
                row["status"] = Release.Status.ROLLED_BACK
                row["finished_at"] = row.get("finished_at") or now
                rolled.append(row["id"])
            _write_as_was(Release, alias, row, insert=row["id"] not in restored)
        _reset_sequence(Release, alias)
    return rolled


def samples_since(alias: str, since: Any) -> list[dict[str, Any]]:
    """The live health samples recorded at or after ``since`` (none without the table)."""
    from ..models import HealthSample, table_ready

    if not table_ready(HealthSample, alias):
        return []
    rows = HealthSample.objects.using(alias).filter(recorded_at__gte=since).order_by("id")
    return [dict(row) for row in rows.values()]


def put_samples_back(alias: str, rows: list[dict[str, Any]]) -> int:
    """Add the ``rows`` (from ``samples_since``) the restored table lacks; how many.

    Raises DatabaseError when the restored database has no sample table or it cannot be
    written.
    """
    from ..models import HealthSample

    if not rows:
        return 0
    connections[alias].close()
    restored = set(
        HealthSample.objects.using(alias)
        .filter(id__gte=min(row["id"] for row in rows))
        .values_list("id", flat=True)
    )
    missing = [row for row in rows if row["id"] not in restored]
    with transaction.atomic(using=alias):
        for row in missing:
            _write_as_was(HealthSample, alias, row, insert=True)
        _reset_sequence(HealthSample, alias)
    return len(missing)


def _write_as_was(model: Any, alias: str, row: dict[str, Any], *, insert: bool) -> None:
    """``row`` into ``model``'s table as it was: its auto_now_add time (started_at,
    recorded_at) is set on insert, so the row is created first, then given its own back."""
    if insert:
        model.objects.using(alias).bulk_create([model(**row)])
    model.objects.using(alias).filter(id=row["id"]).update(**row)


def _reset_sequence(model: Any, alias: str) -> None:
    """The next id after the highest one, once rows were written with their own ids."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)
