"""The one exception type for mistakes a user can fix: the CLI prints it without a traceback."""


class UserError(Exception):
    """Bad input, a missing file, a wrong option: the message says what and what to do."""
