"""`Vectors`: words, their matrix, and similarity queries over it."""

import numpy as np

from keras_embed._validation import check_choice, check_positive_int, check_string_list, is_integer
from keras_embed.vectors import queries

QUERY_METHODS = ("exact", "faiss")


class Vectors:
    """Pre-trained word vectors: a vocabulary and a `(count, dim)` matrix.

    Build one with `keras_embed.vectors.load(path)`, from a layer with
    `keras_embed.vectors.from_layer(layer, vocabulary)`, or directly from a
    list of words and a matrix. Queries follow gensim's `KeyedVectors`.

    Args:
        words: list of `count` distinct strings.
        matrix: `(count, dim)` float array (it may be memory-mapped; it is
            not copied).
        subwords: optional `FastTextSubwords`, which gives vectors for words
            outside the vocabulary (from a fastText `.bin`).

    Attributes:
        words: the words, in row order.
        matrix: the `(count, dim)` array.
        index: dict from word to row.
        dim: vector size.
        norms: `(count,)` float32 row norms, computed on first use and cached.

    Example:

    >>> import numpy as np
    >>> vectors = Vectors(["king", "queen", "man", "woman"],
    ...                   np.array([[1., 1.], [1., 2.], [1., 0.], [1., 1.2]]))
    >>> round(vectors.similarity("king", "woman"), 4)
    0.9959
    >>> [word for word, _ in vectors.most_similar("king", topn=2)]
    ['woman', 'queen']
    """

    def __init__(self, words, matrix, subwords=None):
        words = check_string_list("words", words)
        matrix = matrix if isinstance(matrix, np.ndarray) else np.asarray(matrix)
        if matrix.ndim != 2 or not np.issubdtype(matrix.dtype, np.floating):
            raise ValueError(
                "`matrix` must be a 2-D float array of shape (count, dim). Received: "
                f"array of shape {matrix.shape} and dtype {matrix.dtype}."
            )
        if matrix.shape[0] != len(words):
            raise ValueError(
                f"`words` and `matrix` must have one word per row. Received: "
                f"{len(words)} words and a matrix of shape {matrix.shape}."
            )
        index = dict(zip(words, range(len(words))))
        if len(index) != len(words):
            raise DuplicateWordError(words)
        self.words = words
        self.matrix = matrix
        self.index = index
        self.subwords = subwords
        self.format = None  # The file format it was loaded from, if any.
        self.details = {}  # Format-specific facts (fastText model settings, ...).
        self._norms = None
        self._safe_norms = None
        self._faiss_indexes = {}

    @property
    def dim(self):
        return self.matrix.shape[1]

    @property
    def norms(self):
        if self._norms is None:
            self._norms = queries.row_norms(self.matrix)
        return self._norms

    @property
    def _divisors(self):
        """Cached `(count,)` norms with zeros as inf, which scores divide by."""
        if self._safe_norms is None:
            self._safe_norms = queries.safe_norms(self.norms)
        return self._safe_norms

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __iter__(self):
        return iter(self.words)

    def __repr__(self):
        extra = ", with subwords" if self.subwords is not None else ""
        return f"<Vectors: {len(self)} words x {self.dim} dims, {self.matrix.dtype}{extra}>"

    def __getitem__(self, key):
        """The vector of a word (or a `(len, dim)` array for a list of words)."""
        if isinstance(key, str):
            return self.get_vector(key)
        return np.stack([self.get_vector(word) for word in key]) if len(key) else np.zeros(
            (0, self.dim), self.matrix.dtype
        )

    def get_vector(self, word, norm=False):
        """The vector of `word`; a unit vector when `norm`.

        Words outside the vocabulary get their fastText subword vector when the
        vectors have subwords, else a `KeyError`.
        """
        row = self.index.get(word)
        if row is not None:
            vector = np.array(self.matrix[row])
        elif self.subwords is not None and isinstance(word, str):
            vector = self.subwords.vectors([word])[0].astype(self.matrix.dtype, copy=False)
        else:
            raise KeyError(
                f"{word!r} is not in the vocabulary of these {len(self)} vectors"
                " (and they have no subwords to build it from)."
            )
        return queries.unit(vector) if norm else vector

    def rows_of(self, words):
        """Row of each word, or -1 for words outside the vocabulary."""
        return np.array([self.index.get(word, -1) for word in words], dtype=np.int64)

    # Queries ------------------------------------------------------------------

    def similarity(self, word1, word2):
        """Cosine similarity of two words (Python float)."""
        return float(
            np.dot(self.get_vector(word1, norm=True), self.get_vector(word2, norm=True))
        )

    def most_similar(self, positive=(), negative=(), topn=10, restrict_vocab=None):
        """Words closest to `sum(positive) - sum(negative)` (3CosAdd), as gensim.

        Each word vector is made unit length, weighted (+1 for positive, -1
        for negative, or the weight of a `(word, weight)` pair; raw numpy
        vectors are used as given), summed, divided by the total absolute
        weight and normalised; rows are ranked by cosine similarity with it,
        and the input words are left out.

        Args:
            positive: a word, a vector, or a list of words / vectors /
                `(word_or_vector, weight)` pairs.
            negative: same, subtracted.
            topn: how many results; `None` returns the `(rows,)` array of all
                similarities instead.
            restrict_vocab: search only the first this many rows (files are
                usually sorted by frequency).

        Returns:
            List of `(word, similarity)` pairs, best first.
        """
        topn = queries.check_topn(topn)
        rows = queries.check_row_limit("restrict_vocab", restrict_vocab, len(self))
        terms = queries.weighted_terms(positive, negative)
        query = queries.mean_of_terms(terms, self._vector_of_key)
        if topn is None:
            return queries.all_scores(self.matrix, self._divisors, query, rows)
        if topn == 0:
            return []
        exclude = self._input_rows(terms)
        indices, scores = queries.top_k(
            query[None], self.matrix, self._divisors, topn, rows, [exclude]
        )
        return self._pairs(indices[0], scores[0])

    def most_similar_cosmul(self, positive=(), negative=(), topn=10, restrict_vocab=None):
        """Analogy by multiplicative combination (3CosMul), as gensim.

        Ranks rows by `prod((1 + cos(row, p)) / 2) / (prod((1 + cos(row, n)) / 2)
        + 1e-6)` over the positive words `p` and negative words `n` (Levy and
        Goldberg, 2014, eq. 4 with similarities shifted to [0, 1]).

        Returns:
            List of `(word, score)` pairs, best first (or all scores when
            `topn` is None).
        """
        topn = queries.check_topn(topn)
        rows = queries.check_row_limit("restrict_vocab", restrict_vocab, len(self))
        terms = queries.weighted_terms(positive, negative)
        positives = [key for key, weight in terms if weight > 0]
        negatives = [key for key, weight in terms if weight <= 0]
        if not positives:
            raise ValueError("`positive` is empty: 3CosMul needs at least one positive word.")

        def shifted(key):
            vector = self._vector_of_key(key) if not isinstance(key, np.ndarray) else key
            vector = queries.unit(vector) if not isinstance(key, np.ndarray) else vector
            vector = np.asarray(vector, np.float32)
            return (1.0 + queries.all_scores(self.matrix, self._divisors, vector, rows)) / 2.0

        scores = np.prod([shifted(key) for key in positives], axis=0)
        if negatives:
            scores = scores / (np.prod([shifted(key) for key in negatives], axis=0) + queries.COSMUL_EPSILON)
        else:
            scores = scores / (1.0 + queries.COSMUL_EPSILON)
        if topn is None:
            return scores
        exclude = set(self._input_rows(terms))
        order = np.argsort(-scores, kind="stable")[: topn + len(exclude)]
        return [(self.words[i], float(scores[i])) for i in order if i not in exclude][:topn]

    def nearest(self, query_vectors, k=10, restrict_vocab=None, method="exact"):
        """Top-`k` rows by cosine similarity for a batch of query vectors.

        Args:
            query_vectors: `(q, dim)` array (or one `(dim,)` vector).
            k: neighbours per query.
            restrict_vocab: search only the first this many rows.
            method: `"exact"` (chunked numpy matrix products) or `"faiss"` (a
                flat inner-product index, exact too; needs `faiss-cpu`).

        Returns:
            `(indices, similarities)`, each `(q, min(k, rows))`, best first,
            ties in row order (`(k,)` for a single vector). Rows whose
            similarity is nan (a nan in the matrix) are never returned; if
            that leaves too few, the last slots hold index -1 and nan.
        """
        vectors = np.asarray(query_vectors, dtype=np.float32)
        single = vectors.ndim == 1
        vectors = vectors[None] if single else vectors
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(
                f"`query_vectors` must have shape (q, {self.dim}) or ({self.dim},). "
                f"Received: shape {np.shape(query_vectors)}."
            )
        check_positive_int("k", k)
        rows = queries.check_row_limit("restrict_vocab", restrict_vocab, len(self))
        check_choice("method", method, QUERY_METHODS)
        units = queries.unit(vectors)
        if method == "faiss":
            indices, scores = queries.faiss_top_k(
                self._faiss_indexes, self.matrix, self._divisors, units, k, rows
            )
        else:
            indices, scores = queries.top_k(units, self.matrix, self._divisors, k, rows)
        return (indices[0], scores[0]) if single else (indices, scores)

    def neighbors(self, words, topn=10, restrict_vocab=None):
        """`most_similar` for many single words at once, as one batched search.

        Returns:
            One list of `(word, similarity)` pairs per input word, the word
            itself left out.
        """
        topn = queries.check_topn(topn, allow_none=False)
        rows = queries.check_row_limit("restrict_vocab", restrict_vocab, len(self))
        units = queries.unit(np.stack([self.get_vector(word) for word in words]))
        exclude = [[self.index[word]] if word in self.index else [] for word in words]
        indices, scores = queries.top_k(units, self.matrix, self._divisors, topn, rows, exclude)
        return [self._pairs(*found) for found in zip(indices, scores)]

    def _pairs(self, indices, scores):
        """`[(word, score)]` of the filled slots of a `top_k` result row."""
        return [
            (self.words[index], score)
            for index, score in zip(indices.tolist(), scores.tolist())
            if index >= 0
        ]

    def _vector_of_key(self, key):
        if is_integer(key):
            return np.asarray(self.matrix[int(key)], dtype=np.float32)
        return np.asarray(self.get_vector(key), dtype=np.float32)

    def _input_rows(self, terms):
        rows = []
        for key, _ in terms:
            if isinstance(key, str) and key in self.index:
                rows.append(self.index[key])
            elif is_integer(key):
                rows.append(int(key))
        return rows

    # Saving -------------------------------------------------------------------

    def save(self, path, format=None, precision=None, durable=False):
        """Write the vectors to `path` (see `keras_embed.vectors.save`)."""
        from keras_embed.vectors.formats import save

        save(self, path, format=format, precision=precision, durable=durable)


class DuplicateWordError(ValueError):
    """`words` holds a word twice; `word` and its first two `rows` say where."""

    def __init__(self, words):
        seen = {}
        for row, word in enumerate(words):
            if word in seen:
                break
            seen[word] = row
        self.word, self.rows = word, (seen[word], row)
        super().__init__(
            f"`words` must be unique, but {word!r} appears at rows {seen[word]} and {row}."
        )
