"""A WSGI module that fails at import, as a missing dependency makes it fail on Railway."""

import railops_no_such_dependency  # noqa: F401

application = None
