"""The one exception type the command line turns into a one-line message and exit status 2."""


class SonicMotionError(ValueError):
    """Bad input or an impossible request, explained in one line."""


class WeightsMissing(SonicMotionError):
    """A pretrained file is not where it was looked for: what it is, where it was looked for,
    and the one command that puts it in place on a machine with network access.

    ``sonicmotion weights check``, the model loaders, ``evaluate`` and ``train diffusion`` all
    print this one line, so the researcher sees the same words wherever it surfaces.
    """

    def __init__(self, what: str, looked: list[str] | tuple[str, ...], command: str, problem: str = "not found"):
        self.what, self.looked, self.command, self.problem = what, tuple(str(p) for p in looked), command, problem
        super().__init__(missing_weights_line(what, self.looked, command, problem))


def missing_weights_line(what: str, looked: tuple[str, ...], command: str, problem: str = "not found") -> str:
    """``"{what}: {problem}; looked in A, B; to get it (network needed): COMMAND"``."""
    where = "; looked in " + ", ".join(looked) if looked else ""
    return f"{what}: {problem}{where}; to get it (network needed): {command}"
def one_line(err: BaseException) -> str:
    """The message of ``err`` in one line. One raised in a DataLoader worker comes back wrapped
    by torch ("Caught SonicMotionError in DataLoader worker process 0. Original Traceback ..."),
    a traceback whose last line holds the original message: that line is the message."""
    text = str(err)
    if "\nOriginal Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    return last.partition("SonicMotionError: ")[2] or last
