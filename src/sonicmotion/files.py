"""Writing files so that a failure never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from sonicmotion.errors import SonicMotionError


def _temporary_beside(path: Path) -> Path:
    """An empty temporary file in ``path``'s folder, named after it and keeping its suffix."""
    if not path.parent.is_dir():
        raise SonicMotionError(f"output folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise SonicMotionError(f"{path}: is a folder; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    except OSError as err:
        raise SonicMotionError(f"{path}: cannot write in {str(path.parent)!r} ({err.strerror})") from None
    os.close(fd)
    # mkstemp makes the file private (0600); outputs get the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


def remove_partial_files(folder: str | os.PathLike) -> int:
    """Delete the temporary files under ``folder`` that ``atomic_path`` leaves when its process
    is killed (hidden ``.NAME.XXXX.partial.EXT``); for a rerun into its own output folder."""
    removed = 0
    for path in Path(folder).rglob(".*.partial*"):
        if path.is_file() and ".partial" in path.name:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary name keeps the suffix, so writers that pick a format from the
    extension still work. On any exception the temporary file is removed.
    """
    path = Path(path)
    tmp_path = _temporary_beside(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_outputs() -> Iterator:
    """Several outputs written as one: ``stage(path)`` gives a temporary path beside ``path``
    to write; when the block ends without an error every staged file is renamed into place,
    otherwise every one is removed (no half set of pictures, stems without their mix, ...)."""
    staged: list[tuple[Path, Path]] = []

    def stage(path: str | os.PathLike) -> Path:
        path = Path(path)
        tmp = _temporary_beside(path)
        staged.append((tmp, path))
        return tmp

    try:
        yield stage
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise


def check_output_file(path: str | os.PathLike, suffixes: tuple[str, ...] | None = None,
                      inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Fail before any work if ``path`` cannot be written as a file: a wrong suffix, a
    missing or read-only folder, a folder in its place, or one of the command's ``inputs``
    (writing it would destroy what is being read)."""
    out = Path(path)
    if suffixes and out.suffix.lower() not in suffixes:
        raise SonicMotionError(f"{path}: output must end in {' or '.join(suffixes)}")
    if out.is_dir():
        raise SonicMotionError(f"{path}: is a folder; give a file name")
    _check_writable_folder(out.parent, path)
    for source in inputs:
        if _same_file(out, Path(source)):
            raise SonicMotionError(f"{path}: is one of this command's inputs; writing it would replace what is "
                                   "being read, so give another output name")
    return out


def check_output_folder(path: str | os.PathLike) -> Path:
    """Fail before any work if ``path`` cannot be (created as) an output folder."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise SonicMotionError(f"{path}: is a file, not a folder")
    _check_writable_folder(out if out.is_dir() else out.parent, path)
    return out


def make_folder(path: str | os.PathLike, what: str = "folder") -> Path:
    """Create ``path`` (and its parents) if missing; a file in the way or no permission is one line."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SonicMotionError(f"{what} {str(folder)!r}: a file stands where the folder should be") from None
    except OSError as err:
        raise SonicMotionError(f"{what} {str(folder)!r}: cannot create it ({err.strerror})") from None
    return folder


def _check_writable_folder(folder: Path, path: str | os.PathLike) -> None:
    if not folder.is_dir():
        raise SonicMotionError(f"{path}: output folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SonicMotionError(f"{path}: output folder {str(folder)!r} is not writable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """A text file as UTF-8; anything else is one line naming the file and the line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SonicMotionError(f"{what} {str(path)!r}: cannot read it ({err.strerror})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SonicMotionError(f"{what} {str(path)!r}, line {line}: not UTF-8 text (byte 0x{data[err.start]:02x}); "
                               "save it as UTF-8") from None


def write_safetensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None) -> Path:
    """Write tensors (and string metadata) as a safetensors file, atomically and byte for byte
    the same for the same input: the library writes its metadata in hash order, which changes
    between processes, so the header is rewritten with sorted keys (same length, in place)."""
    import json

    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "r+b") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
            if "__metadata__" in header:
                header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
            text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            if len(text) <= size:  # always, for the same content; otherwise keep the library's header
                f.seek(8)
                f.write(text + b" " * (size - len(text)))
    return path


def read_safetensors(path: str | os.PathLike, what: str = "weights") -> tuple[dict, dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a missing, truncated or foreign file is one
    line naming it."""
    return _open_safetensors(path, what, tensors=True)


def read_safetensors_metadata(path: str | os.PathLike, what: str = "weights") -> dict[str, str]:
    """The string metadata of a safetensors file, without reading its tensors."""
    return _open_safetensors(path, what, tensors=False)[1]


def _open_safetensors(path: str | os.PathLike, what: str, tensors: bool) -> tuple[dict, dict[str, str]]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise SonicMotionError(f"{what} {str(path)!r}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            values = {key: f.get_tensor(key) for key in f.keys()} if tensors else {}
            return values, dict(f.metadata() or {})
    except Exception as err:  # safetensors raises its own error type, OSError, or RuntimeError
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SonicMotionError(f"{what} {str(path)!r} cannot be read ({reason}): the file is damaged or is not "
                               "a safetensors file") from None


def read_torch_state(path: str | os.PathLike, what: str = "state", allowed: tuple = ()) -> Any:
    """A ``torch.save`` file loaded with ``weights_only=True``; an unreadable file is one line.
    ``allowed``: more types the file may hold (``torch.serialization.safe_globals`` entries)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise SonicMotionError(f"{what} {str(path)!r}: no such file")
    try:
        with torch.serialization.safe_globals(list(allowed)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a truncated or foreign file
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SonicMotionError(f"{what} {str(path)!r} cannot be read ({reason[:200]}): the file is damaged") from None


def read_json(path: str | os.PathLike, what: str = "file") -> Any:
    """A UTF-8 JSON file; unreadable, non-UTF-8 or invalid JSON is one line naming the file."""
    import json

    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SonicMotionError(f"{what} {str(path)!r}: not valid JSON at line {err.lineno} ({err.msg})") from None


def write_json(path: str | os.PathLike, data: Any, readable: bool = True) -> None:
    """``data`` as UTF-8 JSON with sorted keys, atomically; ``readable=False``: one line
    (several times faster to write: json's C encoder does not indent), for state only
    programs read."""
    import json

    text = json.dumps(data, indent=1 if readable else None, sort_keys=True, ensure_ascii=False)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")


def json_object_line(line: str, where: str) -> dict:
    """One line of a JSON-lines file as an object; invalid JSON or a non-object is one line naming ``where``."""
    import json

    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise SonicMotionError(f"{where}: not valid JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise SonicMotionError(f"{where}: expected a JSON object")
    return row


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in 4 MB blocks."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def hf_cache_snapshot(repo_id: str) -> tuple[Path | None, Path]:
    """(the snapshot folder of ``repo_id`` in the local Hugging Face cache, or None; the cache
    folder looked in). Never downloads: the model loaders and ``weights check`` share it."""
    from huggingface_hub import constants, snapshot_download

    cache = Path(constants.HF_HUB_CACHE)
    looked = cache / f"models--{repo_id.replace('/', '--')}"
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, cache_dir=cache)), looked
    except Exception:  # not cached (or not a valid id): the caller says where it looked
        return None, looked


def missing_files(folder: Path | None, required: tuple[tuple[str, ...], ...]) -> list[str]:
    """The entries of ``required`` (each a tuple of alternative file names) with no file in ``folder``."""
    if folder is None or not folder.is_dir():
        return [" or ".join(names) for names in required]
    return [" or ".join(names) for names in required if not any((folder / n).is_file() for n in names)]
