"""The one error family of the host tools: the CLI prints `ulearn: <message>` and exits non-zero."""


class UlearnError(Exception):
    """A failure the user can act on; the message says what went wrong and what to do."""

    exit_code = 1
