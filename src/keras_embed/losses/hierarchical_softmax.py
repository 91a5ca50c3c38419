"""word2vec's hierarchical softmax: a word's probability as the branches of its Huffman path."""

from keras import ops

from keras_embed.ops.logistic_targets import logistic_target_loss


def hierarchical_softmax_loss(inputs, node_embeddings, points, codes, lengths):
    """`-log p(word | input)` with `p` the product of the branch probabilities on the word's path.

    Hierarchical softmax (Morin and Bengio, 2005; Mikolov et al., 2013): the
    vocabulary is the leaves of a binary tree (word2vec's Huffman tree, from
    `keras_embed.ops.huffman.huffman_tree`), each inner node `n` has a vector
    `v_n`, and the input goes left at `n` with probability `s(u . v_n)`. The
    probabilities of all words sum to 1 and a word costs `O(log V)` terms:

        loss = sum_j -log s((1 - 2 codes[j]) u . v_points[j]),  j < length

    Args:
        inputs: `(batch, dim)` input vectors `u`.
        node_embeddings: `(V - 1, dim)` inner-node vectors.
        points: `(batch, depth)` int inner nodes on each word's path, root first.
        codes: `(batch, depth)` 0/1 branch taken at each of them.
        lengths: `(batch,)` int path lengths; entries past them are ignored.

    Returns:
        `(batch,)` float32 losses.

    Example:

    >>> import numpy as np
    >>> from keras_embed.ops.huffman import huffman_tree
    >>> codes, points, lengths = huffman_tree([10, 5, 1])
    >>> loss = hierarchical_softmax_loss(np.zeros((3, 4), "float32"),
    ...                                  np.ones((2, 4), "float32"), points, codes, lengths)
    >>> np.round(np.exp(-np.asarray(loss)), 3).tolist()  # u = 0: every branch is a coin flip
    [0.5, 0.25, 0.25]
    """
    depth = ops.shape(points)[1]
    mask = ops.arange(depth)[None, :] < ops.expand_dims(lengths, -1)
    labels = 1.0 - ops.cast(codes, "float32")
    targets = ops.take(node_embeddings, ops.cast(points, "int32"), axis=0)
    return logistic_target_loss(inputs, targets, labels, mask)
