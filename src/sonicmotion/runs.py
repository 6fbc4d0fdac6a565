"""Run folders: where a training run keeps its checkpoints and which one is the latest.

A run folder holds ``checkpoints/step-NNNNNNNNN/`` (the step, zero-padded to 9 digits).
Hidden ``.partial-*`` folders (a save that did not finish) are never checkpoints.
Torch-free; ``training.checkpoint`` writes these folders, model loaders read them;
``RunFolderLock`` keeps a folder to one training run at a time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sonicmotion.errors import SonicMotionError

CHECKPOINTS_DIR = "checkpoints"
_STEP_FOLDER = re.compile(r"^step-(\d{9})$")


def checkpoint_folder_name(step: int) -> str:
    """The folder name of the checkpoint saved at ``step``."""
    return f"step-{step:09d}"


def checkpoint_folders(directory: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders under ``directory`` (a run's ``checkpoints/``), oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if p.is_dir() and _STEP_FOLDER.match(p.name)]
    return sorted(found, key=lambda p: int(_STEP_FOLDER.match(p.name).group(1)))


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest checkpoint folder under ``directory``, or None."""
    found = checkpoint_folders(directory)
    return found[-1] if found else None


def resolve_checkpoint(run_dir_or_checkpoint: str | os.PathLike) -> Path:
    """A run folder's latest checkpoint folder; any other path is returned as is."""
    path = Path(run_dir_or_checkpoint)
    if not (path / CHECKPOINTS_DIR).is_dir():
        return path
    latest = latest_checkpoint(path / CHECKPOINTS_DIR)
    if latest is None:
        raise SonicMotionError(f"{path}: run folder has no checkpoints yet")
    return latest


LOCK_FILE = "train.lock"
# Lock files this process holds. A forked child (a DataLoader worker) closes its copies at
# once, so the lock lives exactly as long as its holder, not as long as the holder's children.
_held_fds: set[int] = set()


def _close_inherited_locks() -> None:
    for fd in _held_fds:
        try:
            os.close(fd)
        except OSError:
            pass
    _held_fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


class RunFolderLock:
    """One writer per run folder: ``RUN/train.lock``, held (``flock``) by the process that
    trains into the folder for the whole run, with its host and PID written inside.

    The kernel drops the lock when its holder exits, however it exits, so a folder whose
    holder is gone is simply taken over. While the holder lives, :meth:`acquire` refuses in
    one line naming it. The holder removes the file when it lets go.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (creating the run folder if needed) or raise SonicMotionError naming the holder."""
        import fcntl
        import json
        import socket
        import time

        if self._fd is not None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise SonicMotionError(
                    f"{self.run_dir} is being trained by {holder} (lock {self.path}); one run at a time per "
                    "folder: wait for it to end or stop it") from None
            # A holder letting go removes the file: if it did so between our open and our
            # lock, we hold a file nobody else will see; open the new one instead.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        holder = {"host": socket.gethostname(), "pid": os.getpid(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        self._fd = fd
        _held_fds.add(fd)

    def release(self) -> None:
        """Remove the file and let go (removed first, so no one locks a file about to vanish)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            _held_fds.discard(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunFolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """``PID 123 on host h (since ...)`` from a lock file's contents, or what is known."""
    import json

    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"PID {int(info['pid'])} on host {info['host']} (since {info.get('since', '?')})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (its host and PID are not written yet)"
