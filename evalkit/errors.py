"""User-facing errors: one line saying what is wrong and how to fix it."""


class EvalkitError(Exception):
    """Bad input or environment. The CLI prints the message alone and exits non-zero."""

    exit_code = 2


class RunFailed(EvalkitError):
    """The run finished but must count as failed (for example, too many request errors)."""

    exit_code = 1


class Interrupted(EvalkitError):
    """A stopped run (Ctrl-C, SIGTERM): the message says what was kept and how to continue."""

    exit_code = 130

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program stands so that it stops as on Ctrl-C (every `except
    KeyboardInterrupt` and `finally` runs); the exit code is the shell's for SIGTERM."""

    exit_code = 143
