"""Which release a rollback goes back to: the one asked for, or the last good one before the
current (read from the release ledger). Used by ``assess`` (to recommend) and ``recover`` (to act).
"""

from __future__ import annotations

from ..deploy.ledger import ledger_ready
from ..models import Release
from ..report import CannotRun


def target_release(alias: str, release_id: int | None) -> Release:
    """The release to go back to: the one asked for, or the last good one before the current."""
    if not ledger_ready(alias):
        raise CannotRun(
            "no release ledger in this database: deploy with railway_deploy first, or use "
            "emergency_rollback recover --backup NAME"
        )
    releases = Release.objects.using(alias)
    if release_id is not None:
        try:
            return releases.get(pk=release_id)
        except Release.DoesNotExist:
            known = ", ".join(str(pk) for pk in releases.values_list("pk", flat=True)[:10])
            raise CannotRun(
                f"release {release_id} does not exist: known releases are {known or 'none'} "
                "(railway_deploy --history)"
            ) from None
    current = releases.order_by("-started_at", "-id").first()
    if current is None:
        raise CannotRun("the release ledger is empty: use emergency_rollback recover --backup NAME")
    previous = (
        releases.filter(status=Release.Status.SUCCEEDED, id__lt=current.pk)
        .order_by("-started_at", "-id")
        .first()
    )
    if previous is None:
        raise CannotRun(
            f"no succeeded release before release {current.pk}: use emergency_rollback recover "
            "--backup NAME (backup list shows the names)"
        )
    return previous
