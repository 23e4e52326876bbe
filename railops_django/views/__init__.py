"""The web surface: the health gate, liveness, OpenMetrics and the staff dashboard.

Views only render Reports that the same modules build for the commands; none formats a finding
itself, and every body goes through ``render`` (so through ``redact``).
"""
