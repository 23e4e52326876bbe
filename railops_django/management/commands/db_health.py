"""db_health: is the database healthy right now, and this container? (see health/)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ... import health
from ...conf import DAY_S
from ...health import alerts
from ...management.base import RailopsCommand, number
from ...report import CannotRun, Report


class Command(RailopsCommand):
    help = (
        "Measure the database (connections, long queries, locks, cache, vacuum, wraparound, "
        "sequences, indexes, slots, security) and this container (CPU, memory vs the cgroup "
        "limit, disk) against thresholds. Exit 0 ok/info, 1 warning, 2 critical."
    )
    formats = ("text", "json", "openmetrics")
    id_prefix = "health"

    def add_command_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--watch",
            type=number(1, DAY_S),
            metavar="SECONDS",
            help="Measure again every SECONDS (1 to 86400) and show what changed; "
            "stop with Ctrl-C or SIGTERM.",
        )
        parser.add_argument(
            "--alert",
            action="store_true",
            help="Post findings at or above RAILOPS ALERT_MIN_SEVERITY to ALERT_WEBHOOK_URL "
            "(Slack/Discord compatible).",
        )
        parser.add_argument(
            "--record",
            action="store_true",
            help="Also keep this measurement in the health history the dashboard charts (run it "
            "from a Railway cron service, e.g. hourly); HEALTH_HISTORY_DAYS are kept.",
        )

    def run(self, **options: Any) -> Report:
        alias = options["database"]
        if options["alert"] and not alerts.webhook_url():
            raise CannotRun(
                "--alert needs a webhook: set RAILOPS_ALERT_WEBHOOK_URL="
                "https://hooks.slack.com/services/… (or RAILOPS['ALERT_WEBHOOK_URL'])"
            )
        if options["watch"] and options["record"]:
            raise CannotRun(
                "--record takes one sample per run: schedule 'python manage.py db_health "
                "--record' (a Railway cron service) instead of combining it with --watch"
            )
        if options["watch"]:
            return health.watch(
                alias,
                options["watch"],
                emit=lambda report: self.emit(report, options),
                alert=options["alert"],
            )
        report = health.run_with_alert(alias) if options["alert"] else health.run(alias)
        if options["record"]:
            health.record(report, alias)
        return report
