"""User-facing errors: one line saying what is wrong and how to fix it."""


class EvalkitError(Exception):
    """Bad input or environment. The CLI prints the message alone and exits non-zero."""

    exit_code = 2


class RunFailed(EvalkitError):
    """The run finished but must count as failed (for example, too many request errors)."""

    exit_code = 1


class Interrupted(EvalkitError):
    """Ctrl-C where there is nothing to resume: the message says what was kept."""

    exit_code = 130
