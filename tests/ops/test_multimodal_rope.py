"""M-RoPE position ids and pair layouts, against transformers' get_rope_index and the formulas.

`tests/fixtures/multimodal_rope_reference.npz` holds the `(3, batch, seq)` position ids that
transformers 5.x computed for a left-padded batch with images and a video (regenerate with
`tests/fixtures/make_rope_reference.py`).
"""

import json
import os

import numpy as np
import pytest

from keras_embed.ops import multimodal_positions
from keras_embed.ops.rope.multimodal import check_mrope_section
from keras_embed.ops.rope.multimodal import mrope_pair_axes

FIXTURE = os.path.join(os.path.dirname(__file__), os.pardir, "fixtures", "multimodal_rope_reference.npz")
REFERENCE = np.load(FIXTURE)
METADATA = json.loads(str(REFERENCE["metadata"]))
MODELS = METADATA["models"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_positions_match_transformers_get_rope_index(name):
    model = MODELS[name]
    positions, deltas = multimodal_positions(
        REFERENCE[f"{name}/token_types"], model["image_grids"], model["video_grids"],
        spatial_merge_size=METADATA["merge"], attention_mask=REFERENCE[f"{name}/attention_mask"],
        video_time_intervals=model["video_time_intervals"], split_video_frames=model["split_video_frames"])
    np.testing.assert_array_equal(positions, REFERENCE[f"{name}/positions"])
    np.testing.assert_array_equal(deltas, REFERENCE[f"{name}/deltas"])


def test_text_only_positions_are_the_token_index_on_every_axis():
    positions, deltas = multimodal_positions(np.zeros((2, 5), "int64"))
    np.testing.assert_array_equal(positions, np.broadcast_to(np.arange(5), (3, 2, 5)))
    np.testing.assert_array_equal(deltas, [[0], [0]])


def test_image_patches_count_rows_and_columns_and_text_resumes_after_the_longer_side():
    # 1 text token, an image of 2x3 merged patches (4x6 before the 2x2 merge), 1 text token.
    types = np.array([[0] + [1] * 6 + [0]])
    positions, _ = multimodal_positions(types, image_grids=[[1, 4, 6]])
    start = 1
    rows, columns = np.divmod(np.arange(6), 3)
    np.testing.assert_array_equal(positions[:, 0, 1:7], [[start] * 6, start + rows, start + columns])
    np.testing.assert_array_equal(positions[:, 0, 7], [start + 3] * 3)  # start + max(2, 3)


def test_video_time_intervals_space_the_frames():
    # Two frames of 1x1 merged patch, 2.5 positions apart (Qwen2.5-VL: tokens_per_second * seconds).
    types = np.array([[0, 2, 2, 0]])
    positions, _ = multimodal_positions(types, video_grids=[[2, 2, 2]], video_time_intervals=[2.5])
    np.testing.assert_array_equal(positions[0, 0], [0, 1, 3, 2])  # floor(1 * 2.5) = 2 after start 1


def test_split_video_frames_takes_one_grid_per_frame_run():
    # Qwen3-VL: timestamps (text) between frames; each frame is a (1, h, w) grid.
    types = np.array([[0, 2, 0, 2, 0]])
    positions, _ = multimodal_positions(types, video_grids=[[2, 2, 2]], split_video_frames=True)
    np.testing.assert_array_equal(positions[0, 0], [0, 1, 2, 3, 4])


def test_chunked_layout_gives_each_axis_a_contiguous_block_of_pairs():
    axes = mrope_pair_axes((2, 3, 3), interleaved=False, head_dim=16)
    np.testing.assert_array_equal(axes, [0, 0, 1, 1, 1, 2, 2, 2])


def test_interleaved_layout_cycles_time_height_width_up_to_each_section():
    # Qwen3-VL: height at 1, 4, ... < 3 * 20, width at 2, 5, ... < 3 * 20, time elsewhere.
    axes = mrope_pair_axes((24, 20, 20), interleaved=True, head_dim=128)
    expected = np.zeros(64, int)
    expected[1:60:3], expected[2:60:3] = 1, 2
    np.testing.assert_array_equal(axes, expected)
    assert np.bincount(axes).tolist() == [24, 20, 20]


@pytest.mark.parametrize("interleaved", [False, True])
def test_mrope_section_must_sum_to_half_the_head(interleaved):
    with pytest.raises(ValueError, match=r"must sum to head_dim / 2.*\[16, 24, 20\] \(sum 60\).*head_dim=128"):
        mrope_pair_axes((16, 24, 20), interleaved, 128)


def test_interleaved_layout_that_cannot_fit_is_rejected():
    with pytest.raises(ValueError, match="interleaved layout cannot give every axis"):
        mrope_pair_axes((0, 8, 0), interleaved=True, head_dim=16)


@pytest.mark.parametrize("section", [(8, 8), (8, -1, 9), (0, 0, 0), "888", (8.0, 4, 4)])
def test_malformed_mrope_section_is_rejected(section):
    with pytest.raises(ValueError, match="`mrope_section` must be three non-negative integers"):
        check_mrope_section(section)


def test_grid_whose_token_count_differs_from_its_run_is_rejected():
    types = np.array([[0] + [1] * 5 + [0]])
    with pytest.raises(ValueError, match=r"Image grid 0 \(1, 4, 6\) gives 6 tokens .* row 0 has 5 tokens"):
        multimodal_positions(types, image_grids=[[1, 4, 6]])


def test_more_vision_runs_than_grids_is_rejected():
    types = np.array([[1] * 6 + [0] + [1] * 6])
    with pytest.raises(ValueError, match="Row 0 has more image runs than `image_grids` gives"):
        multimodal_positions(types, image_grids=[[1, 4, 6]])


def test_grids_left_over_are_rejected():
    with pytest.raises(ValueError, match="`video_grids` gives 1 grids but `token_types` has 0 video runs"):
        multimodal_positions(np.zeros((1, 4), "int64"), video_grids=[[1, 2, 2]])


def test_grid_not_divisible_by_the_merge_is_rejected():
    with pytest.raises(ValueError, match="divisible by spatial_merge_size=2"):
        multimodal_positions(np.array([[1] * 3]), image_grids=[[1, 3, 4]])


def test_unknown_token_type_is_rejected():
    with pytest.raises(ValueError, match=r"`token_types` must hold 0 \(text\), 1 \(image\) or 2 \(video\)"):
        multimodal_positions(np.array([[0, 3]]))
