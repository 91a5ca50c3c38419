"""Opening, sniffing, chunked reading and atomic writing of vector files (private)."""

import bz2
import contextlib
import gzip
import io
import lzma
import os
import secrets
import shutil
import stat
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

# Leading bytes of the compressed containers we read transparently.
_COMPRESSION_MAGIC = {
    b"\x1f\x8b": ("gzip", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    b"BZh": ("bz2", bz2.BZ2File),
    b"\xfd7zXZ\x00": ("xz", lzma.LZMAFile),
}
_COMPRESSION_BY_SUFFIX = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}

PROGRESS_MIN_BYTES = 8 << 20  # Files smaller than this load without a bar.


class VectorsFileError(ValueError):
    """A vectors file is malformed; the message names the file, where and why."""


class Loaded(NamedTuple):
    """What a format reader returns."""

    words: list
    matrix: Any
    where: Callable  # row -> "line 12" / "byte offset 345", for messages.
    subwords: Any = None
    details: dict = {}


def file_error(path, where, message):
    """`VectorsFileError("<path>, <where>: <message>")`; `where` may be None."""
    location = f"{path}, {where}" if where else f"{path}"
    return VectorsFileError(f"{location}: {message}")


class Source:
    """A vectors file opened for reading, decompressed on the fly.

    Args:
        path: the file.
        progress: `True`, `False`, or `None` to show a bar for files over
            `PROGRESS_MIN_BYTES`.
        description: the bar's label.

    `read`/`readinto` return decompressed bytes; `offset` counts how many were
    returned so far (what error messages quote); `size` is the size on disk.
    """

    def __init__(self, path, progress=None, description="loading"):
        self.path = os.fspath(path)
        try:
            self._raw = open(self.path, "rb")
        except FileNotFoundError:
            raise FileNotFoundError(f"No vectors file at {self.path!r}.") from None
        self.size = os.fstat(self._raw.fileno()).st_size
        head = self._raw.read(6)
        self._raw.seek(0)
        self.compression = None
        self._stream = self._raw
        for magic, (name, opener) in _COMPRESSION_MAGIC.items():
            if head.startswith(magic):
                self.compression = name
                self._stream = opener(self._raw)
                break
        self.offset = 0
        self._pushed_back = b""
        show = self.size >= PROGRESS_MIN_BYTES if progress is None else bool(progress)
        self._progress = _ProgressBar(self.size, description) if show else None

    @property
    def compressed(self):
        return self.compression is not None

    def _stream_call(self, method, argument):
        """`self._stream.<method>(argument)`, with a broken compressed stream as a file error."""
        try:
            return getattr(self._stream, method)(argument)
        except (EOFError, OSError, lzma.LZMAError) as error:
            if not self.compressed:
                raise
            raise file_error(
                self.path,
                f"byte offset {self.offset} of the decompressed data",
                f"the {self.compression} stream is cut short or damaged ({error}); "
                "the file is truncated (an interrupted download or copy?)",
            ) from None

    def read(self, size):
        if self._pushed_back:
            data, self._pushed_back = self._pushed_back[:size], self._pushed_back[size:]
            if len(data) < size:
                data += self._stream_call("read", size - len(data))
        else:
            data = self._stream_call("read", size)
        self.offset += len(data)
        self._tick()
        return data

    def readinto(self, buffer):
        if self._pushed_back:
            data = self.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        count = self._stream_call("readinto", buffer)
        self.offset += count
        self._tick()
        return count

    def push_back(self, data):
        """Return `data` (the bytes just read) so the next read sees it again."""
        self._pushed_back = data + self._pushed_back
        self.offset -= len(data)

    def skip(self, size):
        """Move `size` bytes forward without keeping them."""
        from_buffer = min(size, len(self._pushed_back))
        self._pushed_back = self._pushed_back[from_buffer:]
        self.offset += from_buffer
        size -= from_buffer
        if not self.compressed:
            self._raw.seek(size, 1)
            self.offset += size
            self._tick()
            return
        while size > 0:
            data = self.read(min(size, 1 << 24))
            if not data:
                return
            size -= len(data)

    def read_exact(self, size, what):
        """Exactly `size` bytes, or a truncation error naming `what`."""
        start = self.offset
        data = self.read(size)
        if len(data) != size:
            raise file_error(
                self.path,
                f"byte offset {start}",
                f"file ends after {len(data)} of the {size} bytes of {what} (truncated?)",
            )
        return data

    def peek(self, size):
        """The first `size` decompressed bytes, without consuming them (at start only)."""
        if self.offset:
            raise RuntimeError("peek() works only before reading.")
        data = self._stream_call("read", size)
        self._stream.seek(0)
        return data

    def remaining_bound(self):
        """Upper bound on the decompressed bytes left, or None when unknown."""
        return None if self.compressed else self.size - self.offset

    def _tick(self):
        if self._progress is not None:
            self._progress.update(self._raw.tell())

    def close(self, completed=True):
        if self._progress is not None:
            self._progress.finish(self._raw.tell(), completed)
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        self.close(completed=exc_type is None)


class _ProgressBar:
    """`keras.utils.Progbar` over a file's bytes, counted in KB, drawn on stderr.

    stderr, so that a command's output on stdout stays clean; redrawn in place
    on a terminal, else one line when the read ends.
    """

    def __init__(self, size, description):
        from keras.utils import Progbar  # Only when a bar is shown: keras loads a backend.

        self.target = max(-(-size // 1024), 1)
        print(description, file=sys.stderr)
        with contextlib.redirect_stdout(sys.stderr):
            verbose = 1 if sys.stderr.isatty() else 2
            self.bar = Progbar(self.target, verbose=verbose, unit_name="KB")

    def update(self, done_bytes, finalize=False):
        with contextlib.redirect_stdout(sys.stderr):
            self.bar.update(min(done_bytes // 1024, self.target), finalize=finalize)

    def finish(self, done_bytes, completed):
        """The last line: the whole file when `completed`, else where the read stopped."""
        self.update(self.target * 1024 if completed else done_bytes, finalize=True)


def iter_line_blocks(source, block_size, first_line=1):
    """Yield `(line_number, block)`: whole lines of about `block_size` bytes.

    Each block ends with b"\\n" except possibly the last one of the file;
    `line_number` is the 1-based number of the block's first line.
    """
    carry = b""
    line = first_line
    while True:
        data = source.read(block_size)
        if not data:
            if carry:
                yield line, carry
            return
        data = carry + data if carry else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        block, carry = data[:cut], data[cut:]
        yield line, block
        line += block.count(b"\n")


class GrowingMatrix:
    """A `(rows, dim)` array filled block by block, growing in place when needed.

    Growth uses `ndarray.resize`, which reallocates without a second copy of the
    data on Linux (large blocks are remapped), keeping peak memory near the
    final size.
    """

    def __init__(self, capacity, dim, dtype):
        self.array = np.empty((max(capacity, 1), dim), dtype=dtype)
        self.rows = 0

    def reserve(self, count):
        """A writable view of the next `count` rows (the caller fills them)."""
        needed = self.rows + count
        capacity = self.array.shape[0]
        if needed > capacity:
            self.array.resize((max(needed, 2 * capacity), self.array.shape[1]), refcheck=False)
        view = self.array[self.rows : needed]
        self.rows = needed
        return view

    def finish(self):
        if self.rows != self.array.shape[0]:
            self.array.resize((self.rows, self.array.shape[1]), refcheck=False)
        array, self.array = self.array, None
        return array


class _EagerWriteback(io.FileIO):
    """A file that asks the kernel to start writing back every 32 MB written.

    The final fsync then waits for the tail only, not for the whole file: the
    disk works while the next blocks are formatted. `POSIX_FADV_DONTNEED` on
    pages that are still dirty starts their writeback and drops nothing.
    """

    _KICK_BYTES = 32 << 20

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kicked = 0  # Bytes before this offset have been handed to writeback.
        self._written = 0

    def write(self, data):
        count = super().write(data)
        self._written += count or 0
        if self._written - self._kicked >= self._KICK_BYTES and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(
                self.fileno(), self._kicked, self._written - self._kicked, os.POSIX_FADV_DONTNEED
            )
            self._kicked = self._written
        return count


def _target_and_mode(path):
    """The file a write to `path` lands in, and the mode to give it.

    Like `open(path, "w")`: a symbolic link is written through (its target is
    replaced), and an existing file keeps its permission bits. `None` means a
    new file, which gets `0o666` less the umask (and any default ACL) from the
    kernel when it is created.
    """
    target = os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return target, None
    return target, stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else None


def create_beside(target, make):
    """Create a fresh name beside `target` with `make(name)`; return the name.

    `make` must fail with `FileExistsError` when the name is taken (as
    `os.open(..., O_EXCL)` and `os.mkdir` do). The name starts with a dot
    and ends in `.partial`, so a write killed midway (`kill -9`, power loss)
    leaves a recognisable leftover, never a half-written `target`.
    """
    directory, base = os.path.split(target)
    remove_stale_partials(target)
    for _ in range(100):
        name = os.path.join(directory, f".{base}.{os.getpid()}-{secrets.token_hex(4)}.partial")
        try:
            make(name)
        except FileExistsError:
            continue
        return name
    raise FileExistsError(f"Cannot create a temporary file beside {target!r}.")


def _process_is_running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # It exists (another user's), or we cannot tell: keep its file.
    return True


def remove_stale_partials(target):
    """Delete the `.partial` leftovers of earlier writes of `target` whose process has died.

    `create_beside` puts the writer's process id in each name, so a save
    running now in another process keeps its temporary file; one killed
    midway (`kill -9`) left a file (or folder) nothing will ever finish.
    """
    directory, base = os.path.split(target)
    prefix = f".{base}."
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".partial")):
            continue
        writer = name[len(prefix) : -len(".partial")].split("-", 1)[0]
        if not writer.isdigit() or _process_is_running(int(writer)):
            continue
        leftover = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            if os.path.isdir(leftover) and not os.path.islink(leftover):
                shutil.rmtree(leftover)
            else:
                os.remove(leftover)


def sync_directory(directory):
    """Make a rename inside `directory` durable (no-op where unsupported)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_output(path, compress=None, durable=False):
    """Write to a temporary file beside `path`, then rename it into place.

    Yields a binary file object; compressed with gzip/bz2/xz when `path` ends
    in .gz/.bz2/.xz (or as `compress` says). Until the rename `path` holds
    the old file (or nothing), and a failure (an exception) removes the
    temporary file. With `durable=True` the data is also fsynced before the
    rename and the directory after it, so the new file survives a power loss
    as soon as this returns (see `keras_embed.vectors.save`).

    The file gets the permissions `open(path, "w")` would give it: a new file
    `0o666` less the umask, an existing file its current permission bits (its
    owner and group become the writer's, as with any replaced file).
    """
    path = os.fspath(path)
    target, mode = _target_and_mode(path)
    suffix = os.path.splitext(path)[1].lower()
    opener = _COMPRESSION_BY_SUFFIX.get(suffix) if compress is None else compress
    handles = []
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    temporary = create_beside(target, lambda name: handles.append(os.open(name, flags, 0o666)))
    try:
        if mode is not None:
            os.chmod(temporary, mode)
        # Early writeback only pays when we wait for the disk at the end.
        file_class = _EagerWriteback if durable else io.FileIO
        with io.BufferedWriter(file_class(handles[0], "wb"), 1 << 20) as raw:
            if opener is None:
                yield raw
            else:
                with opener(raw, "wb") as stream:
                    yield stream
            if durable:
                raw.flush()
                os.fsync(raw.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise
    if durable:
        sync_directory(os.path.dirname(target))


def decode_words(raw_words, path, encoding_errors, where):
    """Decode UTF-8 words in bulk; `where(i)` says where raw word `i` sits.

    Words are joined on b"\\n" (no word holds one) and decoded in one call;
    on a strict failure the offending word is located for the message.
    """
    if not raw_words:
        return []
    joined = b"\n".join(raw_words)
    try:
        text = joined.decode("utf-8", encoding_errors)
    except UnicodeDecodeError as error:
        lengths = np.fromiter(map(len, raw_words), dtype=np.int64, count=len(raw_words))
        ends = np.cumsum(lengths + 1)
        bad = int(np.searchsorted(ends, error.start, side="right"))
        raise file_error(
            path,
            where(bad),
            f"word {raw_words[bad]!r} is not valid UTF-8 ({error.reason}); pass "
            "encoding_errors='replace' or 'ignore' to load it anyway",
        ) from None
    words = text.split("\n")
    if len(words) != len(raw_words):  # A word held b"\n": decode one by one.
        words = [word.decode("utf-8", encoding_errors) for word in raw_words]
    return words
