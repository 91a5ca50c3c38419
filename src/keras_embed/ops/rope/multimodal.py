"""Multimodal rotary positions (M-RoPE): one position per axis, time, height, width.

A vision-language model gives every token three positions `(t, h, w)`: text
tokens repeat their place in the sequence on all three axes, image and video
patches count their frame, row and column. `mrope_section` splits the
`head_dim // 2` feature pairs between the three axes, and each pair turns by
its own axis's position times its usual frequency.

Two layouts of the split exist:

- chunked (Qwen2-VL, Qwen2.5-VL): the first `mrope_section[0]` pairs follow
  time, the next `mrope_section[1]` height, the last `mrope_section[2]` width;
- interleaved (Qwen3-VL): pairs cycle time, height, width, `(1, 2)` of every
  three following height and width until each has its `mrope_section` share,
  and every other pair follows time.

Reference: Wang et al., "Qwen2-VL: Enhancing Vision-Language Model's
Perception of the World at Any Resolution", 2024,
https://arxiv.org/abs/2409.12191 (section 2.1, M-RoPE); Qwen3-VL (Bai et al.,
2025, https://arxiv.org/abs/2511.21631), interleaved M-RoPE.
"""

import numpy as np
from keras import ops

from keras_embed._validation import check_positive_int
from keras_embed._validation import describe
from keras_embed._validation import is_integer
from keras_embed.ops._backend import concrete_value

TEXT, IMAGE, VIDEO = 0, 1, 2


def check_mrope_section(mrope_section):
    """`mrope_section` as a tuple of three non-negative ints, or a clear error."""
    if (
        isinstance(mrope_section, (str, bytes, dict))
        or not hasattr(mrope_section, "__len__")
        or len(mrope_section) != 3
        or not all(is_integer(v) and v >= 0 for v in mrope_section)
        or sum(mrope_section) == 0
    ):
        raise ValueError(
            "`mrope_section` must be three non-negative integers (pairs for time, "
            "height and width), not all zero. "
            f"Received: mrope_section={describe(mrope_section)}."
        )
    return tuple(int(v) for v in mrope_section)


def mrope_pair_axes(mrope_section, interleaved, head_dim):
    """Which axis (0 time, 1 height, 2 width) drives each feature pair.

    Args:
        mrope_section: three pair counts, summing to `head_dim // 2`.
        interleaved: `False` for the chunked layout (Qwen2-VL), `True` for the
            interleaved one (Qwen3-VL).
        head_dim: number of features per head.

    Returns:
        numpy int32 array of shape `(head_dim // 2,)`.
    """
    half = head_dim // 2
    if head_dim % 2 or sum(mrope_section) != half:
        raise ValueError(
            "`mrope_section` must sum to head_dim / 2, one entry per feature pair. "
            f"Received: mrope_section={list(mrope_section)} (sum {sum(mrope_section)}) "
            f"for head_dim={head_dim} ({half} pairs)."
        )
    if not interleaved:
        return np.repeat(np.arange(3, dtype=np.int32), mrope_section)
    axes = np.zeros(half, dtype=np.int32)
    for axis in (1, 2):
        # Pairs axis, axis + 3, ... below 3 * section, as Qwen3-VL lays them out.
        axes[axis : 3 * mrope_section[axis] : 3] = axis
    counts = tuple(int(np.sum(axes == axis)) for axis in range(3))
    if counts != tuple(mrope_section):
        raise ValueError(
            "The interleaved layout cannot give every axis its `mrope_section` share: "
            f"height and width need pairs up to 3 * section, within {half} pairs. "
            f"Received: mrope_section={list(mrope_section)}, which lays out as {list(counts)}."
        )
    return axes


def pair_positions(positions, pair_axes):
    """Each feature pair's position: `(3, ..., seq)` -> `(..., seq, head_dim // 2)` float32.

    A selection, not arithmetic, so positions stay exact (a one-hot matmul
    would round under TF32 on accelerators).
    """
    positions = ops.cast(positions, "float32")
    # (..., seq, 1) each
    temporal, height, width = (ops.expand_dims(positions[axis], -1) for axis in range(3))
    pair_axes = ops.convert_to_tensor(pair_axes)
    return ops.where(pair_axes == 0, temporal, ops.where(pair_axes == 1, height, width))


def _concrete(name, value, ndim=None):
    array = concrete_value(value)
    if array is None:
        raise ValueError(
            f"`{name}` must have known values (numpy or eager tensors): multimodal "
            "positions are built on the host, before a compiled step."
        )
    array = np.asarray(array)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"`{name}` must have rank {ndim}. Received shape {array.shape}."
        )
    return array


def _grids(name, grids, spatial_merge_size):
    if grids is None:
        return np.zeros((0, 3), dtype=np.int64)
    grids = _concrete(name, grids)
    if grids.ndim != 2 or grids.shape[-1] != 3 or "int" not in grids.dtype.name:
        raise ValueError(
            f"`{name}` must be integers of shape (count, 3), one (t, h, w) grid each. "
            f"Received shape {grids.shape}, dtype {grids.dtype}."
        )
    if (grids <= 0).any() or (grids[:, 1:] % spatial_merge_size).any():
        raise ValueError(
            f"`{name}` must hold positive sizes, with h and w divisible by "
            f"spatial_merge_size={spatial_merge_size}. Received: {name}={grids.tolist()}."
        )
    return grids.astype(np.int64)


def multimodal_positions(
    token_types,
    image_grids=None,
    video_grids=None,
    *,
    spatial_merge_size=2,
    attention_mask=None,
    video_time_intervals=None,
    split_video_frames=False,
):
    """Position ids `(3, batch, seq)` for text with images and videos, as Qwen-VL builds them.

    Walks each row's runs of equal token type. A text run of length `n` takes
    positions `p, ..., p + n - 1` on all three axes and moves `p` on by `n`. An
    image or video run takes the next grid `(t, h, w)` of its kind, merged to
    `(t, h / m, w / m)` patches with `m = spatial_merge_size`, and gives patch
    `(i, j, k)` (row-major order) the positions `(p + i * interval, p + j, p + k)`;
    `p` then moves on by `max(h, w) / m`. Grids are used in order across the
    batch. Masked tokens (`attention_mask == 0`) are skipped and get position 0.
    This is transformers' `get_rope_index` for Qwen2-VL, Qwen2.5-VL (with
    `video_time_intervals`) and Qwen3-VL (with `split_video_frames=True`).

    Args:
        token_types: int array `(batch, seq)`: 0 text, 1 image, 2 video
            (transformers' `mm_token_type_ids`). Image and video runs must be
            separated by text (the vision start/end tokens are text).
        image_grids: int array `(images, 3)` of `(t, h, w)` patch grids before
            merging (transformers' `image_grid_thw`).
        video_grids: int array `(videos, 3)`, likewise (`video_grid_thw`).
        spatial_merge_size: int, patches merged per side into one token.
            Defaults to `2`.
        attention_mask: optional 0/1 array `(batch, seq)`.
        video_time_intervals: optional numbers, one per video: the temporal
            position step between frames (Qwen2.5-VL: `tokens_per_second *
            second_per_grid_ts`); frame `i` sits at `floor(i * interval)`,
            in float32. Defaults to 1.
        split_video_frames: bool. `True` for Qwen3-VL, whose frames are
            separated by timestamp text: each video grid `(t, h, w)` counts as
            `t` grids `(1, h, w)`, one per frame run.

    Returns:
        `(positions, deltas)`: int32 numpy arrays of shapes `(3, batch, seq)` and
        `(batch, 1)`, where `deltas` is the largest position plus one minus the
        number of unmasked tokens, the offset text tokens generated later add to
        their index.

    Raises:
        ValueError: a run whose length differs from its grid's token count,
            more runs than grids or grids left over, or malformed arguments.

    Example:

    >>> types = np.array([[0, 0, 1, 1, 1, 1, 1, 1, 0]])  # text, a 2x3-token image, text
    >>> positions, deltas = multimodal_positions(types, image_grids=[[1, 4, 6]])
    >>> positions[:, 0].tolist()
    [[0, 1, 2, 2, 2, 2, 2, 2, 5], [0, 1, 2, 2, 2, 3, 3, 3, 5], [0, 1, 2, 3, 4, 2, 3, 4, 5]]
    >>> deltas.tolist()
    [[-3]]
    """
    check_positive_int("spatial_merge_size", spatial_merge_size)
    token_types = _concrete("token_types", token_types, ndim=2)
    if not np.isin(token_types, (TEXT, IMAGE, VIDEO)).all():
        raise ValueError(
            "`token_types` must hold 0 (text), 1 (image) or 2 (video). "
            f"Received values {sorted(set(np.unique(token_types).tolist()))}."
        )
    batch, sequence = token_types.shape
    if attention_mask is None:
        keep = np.ones((batch, sequence), dtype=bool)
    else:
        keep = _concrete("attention_mask", attention_mask, ndim=2).astype(bool)
        if keep.shape != token_types.shape:
            raise ValueError(
                "`attention_mask` must have the shape of `token_types`. Received "
                f"{keep.shape} and {token_types.shape}."
            )
    images = _grids("image_grids", image_grids, spatial_merge_size)
    videos = _grids("video_grids", video_grids, spatial_merge_size)
    if video_time_intervals is None:
        intervals = np.ones(len(videos))
    else:
        intervals = np.asarray(video_time_intervals, dtype=np.float64).reshape(-1)
        if intervals.shape != (len(videos),):
            raise ValueError(
                "`video_time_intervals` must hold one number per video grid. Received "
                f"{intervals.size} for {len(videos)} videos."
            )
    if split_video_frames:
        intervals = np.repeat(intervals, videos[:, 0])
        videos = np.repeat(videos, videos[:, 0], axis=0)
        videos[:, 0] = 1
    queues = {IMAGE: (images, intervals[:0], "image"), VIDEO: (videos, intervals, "video")}
    used = {IMAGE: 0, VIDEO: 0}

    positions = np.zeros((3, batch, sequence), dtype=np.int64)
    deltas = np.zeros((batch, 1), dtype=np.int64)
    for row in range(batch):
        kinds = token_types[row][keep[row]]
        pieces = []
        current = 0
        # Runs of equal type: boundaries where the type changes.
        starts = np.flatnonzero(np.diff(kinds, prepend=-1))
        ends = np.append(starts[1:], len(kinds))
        for start, end in zip(starts, ends):
            kind, length = int(kinds[start]), int(end - start)
            if kind == TEXT:
                pieces.append(np.broadcast_to(np.arange(current, current + length), (3, length)))
                current += length
                continue
            grids, steps, name = queues[kind]
            index = used[kind]
            if index >= len(grids):
                raise ValueError(
                    f"Row {row} has more {name} runs than `{name}_grids` gives "
                    f"({len(grids)} grids in all)."
                )
            used[kind] += 1
            t, h, w = (int(v) for v in grids[index])
            h, w = h // spatial_merge_size, w // spatial_merge_size
            if t * h * w != length:
                raise ValueError(
                    f"{name.capitalize()} grid {index} {tuple(int(v) for v in grids[index])} "
                    f"gives {t * h * w} tokens after the {spatial_merge_size}x"
                    f"{spatial_merge_size} merge, but its run in row {row} has {length} "
                    "tokens (separate adjacent images or videos with text tokens)."
                )
            step = steps[index] if kind == VIDEO else 1.0
            # float32 steps, floored, as transformers multiplies a float32 tensor
            frames = (np.arange(t, dtype=np.float32) * np.float32(step)).astype(np.int64)
            grid = np.meshgrid(
                frames + current, np.arange(h) + current, np.arange(w) + current, indexing="ij"
            )
            pieces.append(np.stack([axis.reshape(-1) for axis in grid]))
            current += max(h, w)
        if pieces:
            row_positions = np.concatenate(pieces, axis=1)
            positions[:, row, keep[row]] = row_positions
            deltas[row, 0] = row_positions.max() + 1 - len(kinds)
    for kind, (grids, _, name) in queues.items():
        if used[kind] != len(grids):
            raise ValueError(
                f"`{name}_grids` gives {len(grids)} grids but `token_types` has "
                f"{used[kind]} {name} runs."
            )
    return positions.astype(np.int32), deltas.astype(np.int32)
