"""The one exception type the command line turns into a one-line message and exit status 2."""


class SonicMotionError(ValueError):
    """Bad input or an impossible request, explained in one line."""


def one_line(err: BaseException) -> str:
    """The message of ``err`` in one line. One raised in a DataLoader worker comes back wrapped
    by torch ("Caught SonicMotionError in DataLoader worker process 0. Original Traceback ..."),
    a traceback whose last line holds the original message: that line is the message."""
    text = str(err)
    if "\nOriginal Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    return last.partition("SonicMotionError: ")[2] or last
