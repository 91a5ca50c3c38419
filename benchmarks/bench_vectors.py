"""Loading, saving and querying word vectors: keras_embed.vectors vs gensim's KeyedVectors.

Synthetic files (a word2vec binary and a word2vec text file) are written to a
temporary folder under /tmp and deleted at the end. Load times are the median
of repeats in this one process, alternating ours and gensim; the peak memory
of a load is measured in a fresh subprocess per loader (VmHWM minus the RSS
before the load), and reported as a ratio to the matrix size. Saves write the
loaded vectors back in the same format (ours: atomic, exact `%.9g` text, and
a second row with `durable=True`, fsynced; gensim: `save_word2vec_format`, not
fsynced, shortest-repr text), timed in alternation after an `os.sync`; the output must reload bit-identically in gensim. Their peak
memory is the VmHWM increase during the save in a fresh subprocess, the peak
being reset after the load. Queries compare `most_similar` of one word, and
64 words (our batched `neighbors` against 64 gensim calls: gensim has no
batched form).

    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_vectors.py [--quick]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np
from _timing import HEADER, paired_median_ms, row, benchmark_parser

from keras_embed.vectors import Vectors, load, save

FULL_SIZES = {"binary": (1_000_000, 300), "text": (200_000, 300)}
QUICK_SIZES = {"binary": (20_000, 50), "text": (5_000, 50)}

_PEAK_SCRIPT = """
import sys
loader, path = sys.argv[1], sys.argv[2]
if loader == "ours":
    from keras_embed.vectors import load
    run = lambda: load(path, progress=False).matrix
else:
    from gensim.models import KeyedVectors
    run = lambda: KeyedVectors.load_word2vec_format(path, binary=path.endswith(".bin")).vectors

def status_kb(field):
    # VmHWM is this process's own peak (ru_maxrss can inherit the parent's at exec).
    with open("/proc/self/status") as status:
        return [int(line.split()[1]) for line in status if line.startswith(field)][0]

before = status_kb("VmRSS")
matrix = run()
print((status_kb("VmHWM") - before) / 1024, matrix.nbytes / 2**20)
"""


_SAVE_PEAK_SCRIPT = """
import sys
saver, path, output = sys.argv[1], sys.argv[2], sys.argv[3]
binary = path.endswith(".bin")
if saver == "ours":
    from keras_embed.vectors import load
    vectors = load(path, progress=False)
    run, matrix = lambda: vectors.save(output), vectors.matrix
else:
    from gensim.models import KeyedVectors
    vectors = KeyedVectors.load_word2vec_format(path, binary=binary)
    run, matrix = lambda: vectors.save_word2vec_format(output, binary=binary), vectors.vectors

def status_kb(field):
    with open("/proc/self/status") as status:
        return [int(line.split()[1]) for line in status if line.startswith(field)][0]

with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # Resets VmHWM to the current RSS: the load's peak is not the save's.
before = status_kb("VmRSS")
run()
print((status_kb("VmHWM") - before) / 1024, matrix.nbytes / 2**20)
"""


def write_text_file(path, count, dim, rng, chunk_rows=10_000):
    """`count dim`, then lines `w<i>` and `dim` values as 9-byte cells `+0.12345 `."""
    with open(path, "wb") as handle:
        handle.write(f"{count} {dim}\n".encode())
        for start in range(0, count, chunk_rows):
            rows = min(chunk_rows, count - start)
            cells = np.empty((rows, dim, 9), dtype=np.uint8)  # (rows, dim, bytes)
            cells[..., 0] = np.where(rng.random((rows, dim)) < 0.5, ord("-"), ord("+"))
            cells[..., 1:3] = np.frombuffer(b"0.", dtype=np.uint8)
            cells[..., 3:8] = rng.integers(ord("0"), ord("9") + 1, size=(rows, dim, 5))
            cells[..., 8] = ord(" ")
            cells[:, -1, 8] = ord("\n")
            lines = cells.reshape(rows, -1)
            handle.write(b"".join(b"w%d " % (start + i) + lines[i].tobytes() for i in range(rows)))


def make_files(directory, sizes, rng):
    count, dim = sizes["binary"]
    binary = os.path.join(directory, "vectors.bin")
    matrix = rng.standard_normal((count, dim), dtype=np.float32)
    save(Vectors([f"w{i}" for i in range(count)], matrix), binary)
    del matrix
    text = os.path.join(directory, "vectors.vec")
    write_text_file(text, *sizes["text"], rng)
    return binary, text


def alternate_loads(ours, peer, repeats, settle=None):
    """`((median ms, last result), ...)` for ours and peer, loaded in alternation.

    `settle`, if given, runs untimed before each call (saves: `os.sync`, so
    one saver's unflushed pages are not written back during the other's turn).
    """
    times, results = ([], []), [None, None]
    for _ in range(repeats):
        for which, load_fn in enumerate((ours, peer)):
            results[which] = None  # Free the previous copy before timing the next.
            if settle is not None:
                settle()
            start = time.perf_counter()
            results[which] = load_fn()
            times[which].append((time.perf_counter() - start) * 1000)
    return (statistics.median(times[0]), results[0]), (statistics.median(times[1]), results[1])


def peak_memory_mb(loader, path):
    """`(peak RSS increase, matrix size)` in MB of one load in a fresh process."""
    output = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, loader, path],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return float(output[-2]), float(output[-1])


def save_peak_memory_mb(saver, path, output):
    """`(peak RSS increase while saving, matrix size)` in MB, in a fresh process."""
    result = subprocess.run(
        [sys.executable, "-c", _SAVE_PEAK_SCRIPT, saver, path, output],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return float(result[-2]), float(result[-1])


def benchmark_saves(kind, path, sizes, directory, repeats, ram_directory=None):
    """Rows for saving `path`'s vectors back in its format, ours vs gensim.

    Each save writes a fresh file: the previous outputs are deleted (and
    everything synced) untimed before each, so neither side pays for freeing
    the file it replaces. The saves run on the disk holding `directory` and,
    when `ram_directory` is given, on a RAM filesystem too, where no disk
    work blurs the time the library itself takes.
    """
    from gensim.models import KeyedVectors

    count, dim = sizes[kind]
    binary = kind == "binary"
    suffix = ".bin" if binary else ".vec"
    ours_vectors = load(path, progress=False)
    peer_vectors = KeyedVectors.load_word2vec_format(path, binary=binary)
    places = [("disk", directory)] + ([("RAM", ram_directory)] if ram_directory else [])
    for where, folder in places:
        ours_path = os.path.join(folder, "saved_ours" + suffix)
        peer_path = os.path.join(folder, "saved_gensim" + suffix)

        def settle():
            for leftover in (ours_path, peer_path):
                if os.path.exists(leftover):
                    os.remove(leftover)
            os.sync()

        peer_save = lambda: peer_vectors.save_word2vec_format(peer_path, binary=binary)
        (ours_ms, _), (peer_ms, _) = alternate_loads(
            lambda: save(ours_vectors, ours_path), peer_save, repeats, settle=settle
        )
        print(row(f"save word2vec {kind} {count}x{dim}, {where}", ours_ms, peer_ms))
        if where == "disk":
            # durable=True also waits for the disk (fsync), which gensim never does.
            (durable_ms, _), (peer_ms, _) = alternate_loads(
                lambda: save(ours_vectors, ours_path, durable=True), peer_save, repeats, settle=settle
            )
            print(row(f"save word2vec {kind} {count}x{dim}, disk, ours durable=True", durable_ms, peer_ms))
        if folder != directory:
            settle()
    ours_path = os.path.join(directory, "saved_ours" + suffix)
    peer_path = os.path.join(directory, "saved_gensim" + suffix)
    save(ours_vectors, ours_path)  # The timed loops delete outputs; this one is checked.
    reread = KeyedVectors.load_word2vec_format(ours_path, binary=binary)
    assert reread.index_to_key == ours_vectors.words
    np.testing.assert_array_equal(reread.vectors, ours_vectors.matrix)
    np.testing.assert_array_equal(load(ours_path, progress=False).matrix, ours_vectors.matrix)
    del ours_vectors, peer_vectors, reread
    ours_mb, matrix_mb = save_peak_memory_mb("ours", path, ours_path)
    peer_mb, _ = save_peak_memory_mb("gensim", path, peer_path)
    print(row(f"save word2vec {kind} {count}x{dim}: peak RSS increase", ours_mb, peer_mb, "MB"))
    print(
        f"| save word2vec {kind} {count}x{dim}: peak / matrix size | - | "
        f"{(matrix_mb + ours_mb) / matrix_mb:.2f} | {(matrix_mb + peer_mb) / matrix_mb:.2f} | - |"
    )
    for leftover in (ours_path, peer_path):
        if os.path.exists(leftover):
            os.remove(leftover)


def main(argv=None):
    parser = benchmark_parser()
    args = parser.parse_args(argv)
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        print("bench_vectors: gensim is not installed; skipped (pip install gensim).")
        return
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    directory = tempfile.mkdtemp(prefix="bench_vectors_", dir="/tmp")
    # Saves are timed on a RAM filesystem as well, where there is one.
    ram_directory = None
    if os.path.isdir("/dev/shm"):
        ram_directory = tempfile.mkdtemp(prefix="bench_vectors_", dir="/dev/shm")
    try:
        binary, text = make_files(directory, sizes, np.random.default_rng(0))
        if not args.no_header:
            print(HEADER)
        for kind, path, is_binary in (("binary", binary, True), ("text", text, False)):
            count, dim = sizes[kind]
            ours = lambda: load(path, progress=False)
            peer = lambda: KeyedVectors.load_word2vec_format(path, binary=is_binary)
            repeats = 3 if args.quick or kind == "binary" else 1  # gensim: ~1 min per text load.
            (ours_ms, ours_result), (peer_ms, peer_result) = alternate_loads(ours, peer, repeats)
            np.testing.assert_array_equal(ours_result.matrix, peer_result.vectors)
            del ours_result, peer_result
            print(row(f"load word2vec {kind} {count}x{dim}", ours_ms, peer_ms))
            ours_mb, matrix_mb = peak_memory_mb("ours", path)
            peer_mb, _ = peak_memory_mb("gensim", path)
            print(row(f"load word2vec {kind} {count}x{dim}: peak RSS increase", ours_mb, peer_mb, "MB"))
            print(
                f"| load word2vec {kind} {count}x{dim}: peak / matrix size | - | "
                f"{ours_mb / matrix_mb:.2f} | {peer_mb / matrix_mb:.2f} | - |"
            )

        for kind, path in (("binary", binary), ("text", text)):
            # gensim writes text at ~2 us per number: one save of 200k x 300 takes minutes.
            benchmark_saves(
                kind,
                path,
                sizes,
                directory,
                3 if args.quick or kind == "binary" else 1,
                ram_directory=ram_directory,
            )
        if not args.quick:
            # The issue's own anchor size, where gensim took 0.40 s and we 0.81 s before.
            anchor = os.path.join(directory, "anchor.bin")
            save(load(binary, limit=100_000, progress=False), anchor)
            benchmark_saves(
                "binary", anchor, {"binary": (100_000, sizes["binary"][1])}, directory, 7,
                ram_directory=ram_directory,
            )

        ours_vectors = load(binary, progress=False)
        peer_vectors = KeyedVectors.load_word2vec_format(binary, binary=True)
        count, dim = sizes["binary"]
        words = [f"w{i}" for i in range(0, count, count // 64)][:64]
        assert [w for w, _ in ours_vectors.most_similar(words[1])] == [
            w for w, _ in peer_vectors.most_similar(words[1])
        ]
        for word, found in zip(words[:4], ours_vectors.neighbors(words[:4])):
            assert [w for w, _ in found] == [w for w, _ in peer_vectors.most_similar(word)]
        ours_ms, peer_ms = paired_median_ms(
            lambda: ours_vectors.most_similar(words[1]),
            lambda: peer_vectors.most_similar(words[1]),
            repeats=5 if args.quick else 7,
        )
        print(row(f"most_similar 1 word, topn=10 ({count}x{dim})", ours_ms, peer_ms))
        ours_ms, peer_ms = paired_median_ms(
            lambda: ours_vectors.neighbors(words),
            lambda: [peer_vectors.most_similar(word) for word in words],
            repeats=3,
            warmup=1,
        )
        print(row(f"most_similar 64 words, topn=10, batched ({count}x{dim})", ours_ms, peer_ms))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if ram_directory:
            shutil.rmtree(ram_directory, ignore_errors=True)


if __name__ == "__main__":
    main()
