"""Huffman tree of a vocabulary, for hierarchical softmax (numpy only).

word2vec's construction (Mikolov et al., 2013, `word2vec.c`; gensim builds
the same tree): words sorted by decreasing count are the leaves; the two
lightest nodes are merged again and again, the lighter one becoming the
left child (code 0) and the other the right child (code 1). Inner node `i`
is the `i`-th merge, so the root is inner node `V - 2`. A word's path runs
from the root down: `points[w, j]` is the inner node met at depth `j` and
`codes[w, j]` the branch taken there.
"""

import numpy as np

from keras_embed._validation import describe


def huffman_tree(counts):
    """Codes and inner-node ids of each word's path in the Huffman tree of `counts`.

    Args:
        counts: `(V,)` positive word counts, `V >= 2`, sorted by decreasing
            count (ties in any order); the tree of unsorted counts is still a
            Huffman tree, but not word2vec's on ties.

    Returns:
        `(codes, points, lengths)`: `codes` `(V, depth)` int32 in {0, 1},
        `points` `(V, depth)` int32 inner-node ids in `[0, V - 1)`, both
        padded with 0 past `lengths[w]`, and `lengths` `(V,)` int32 path
        lengths; `depth` is the longest path.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or counts.size < 2 or np.any(counts <= 0):
        raise ValueError(
            "`counts` must be a 1-D array of at least 2 positive counts. "
            f"Received: {describe(counts if counts.size < 8 else counts.shape)}."
        )
    vocabulary_size = counts.size
    weights = np.concatenate([counts, np.full(vocabulary_size - 1, np.iinfo(np.int64).max)])
    parents = np.zeros(2 * vocabulary_size - 1, dtype=np.int64)
    branches = np.zeros(2 * vocabulary_size - 1, dtype=np.int32)
    # Leaves are read from the lightest (the end) down; merged nodes come out in increasing weight.
    next_leaf, next_inner = vocabulary_size - 1, vocabulary_size
    for merged in range(vocabulary_size, 2 * vocabulary_size - 1):
        children = []
        for _ in range(2):
            if next_leaf >= 0 and weights[next_leaf] < weights[next_inner]:
                children.append(next_leaf)
                next_leaf -= 1
            else:
                children.append(next_inner)
                next_inner += 1
        weights[merged] = weights[children[0]] + weights[children[1]]
        parents[children] = merged
        branches[children[1]] = 1
    return _paths_from_root(parents, branches, vocabulary_size)


def _paths_from_root(parents, branches, vocabulary_size):
    """Each leaf's `(codes, points, lengths)`, filling every node's path from its parent's."""
    node_count = parents.size
    root = node_count - 1
    depths = np.zeros(node_count, dtype=np.int64)
    # A parent is merged after its children, so walking nodes downward meets it first.
    for node in range(root - 1, -1, -1):
        depths[node] = depths[parents[node]] + 1
    depth = int(depths[:vocabulary_size].max())
    codes = np.zeros((node_count, depth), dtype=np.int32)
    points = np.zeros((node_count, depth), dtype=np.int32)
    for node in range(root - 1, -1, -1):
        parent, level = parents[node], depths[node] - 1
        codes[node, :level] = codes[parent, :level]
        points[node, :level] = points[parent, :level]
        codes[node, level] = branches[node]
        points[node, level] = parent - vocabulary_size
    lengths = depths[:vocabulary_size].astype(np.int32)
    return codes[:vocabulary_size], points[:vocabulary_size], lengths
