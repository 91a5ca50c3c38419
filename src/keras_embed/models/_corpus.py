"""The corpus every word-vector model reads (private): token lists, or a file of one sentence per line.

Word2Vec and FastText read it twice (vocabulary, then training) and cut
sentences at 10,000 tokens as gensim does; GloVe reads it once and keeps
whole lines as documents, as `glove.c`'s `cooccur` does.
"""

import os

from keras_embed._validation import describe

# gensim's MAX_WORDS_IN_BATCH: longer sentences are cut into pieces this long.
MAX_SENTENCE_LENGTH = 10_000


class LineCorpus:
    """Sentences of a UTF-8 text file, one per line, tokens split on whitespace (re-iterable)."""

    def __init__(self, path):
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise ValueError(
                f"`corpus_file` must be the path of a text file with one sentence per line. "
                f"Received: corpus_file={describe(path)}, which is not a file."
            )
        self.path = path

    def __iter__(self):
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                yield line.split()


class Sentences:
    """The sentences of a corpus as token lists, each checked, cut at `max_sentence_length` tokens."""

    def __init__(self, source, max_sentence_length):
        self.source = source
        self.max_sentence_length = max_sentence_length

    def __iter__(self):
        for position, sentence in enumerate(self.source):
            if isinstance(sentence, (str, bytes)) or not hasattr(sentence, "__iter__"):
                raise ValueError(
                    "`sentences` must hold token lists (each sentence a list of strings). "
                    f"Received: sentence {position} = {describe(sentence)[:120]}."
                )
            sentence = list(sentence)
            if self.max_sentence_length is None:
                yield sentence
                continue
            for start in range(0, max(len(sentence), 1), self.max_sentence_length):
                yield sentence[start : start + self.max_sentence_length]


def corpus_of(sentences, corpus_file, reiterable=True, max_sentence_length=MAX_SENTENCE_LENGTH):
    """The `Sentences` of exactly one of `sentences` and `corpus_file`.

    Args:
        sentences: an iterable of token lists, or None.
        corpus_file: a path of a one-sentence-per-line text file, or None.
        reiterable: whether the caller reads the corpus more than once, so
            that `sentences` may not be an iterator that one pass uses up.
        max_sentence_length: longest sentence, longer ones are cut into
            pieces; None keeps every sentence whole.
    """
    if (sentences is None) == (corpus_file is None):
        raise ValueError(
            "Pass exactly one of `sentences` (an iterable of token lists) and `corpus_file` "
            f"(a one-sentence-per-line text file). Received: sentences={describe(sentences)[:120]}, "
            f"corpus_file={describe(corpus_file)}."
        )
    if corpus_file is not None:
        return Sentences(LineCorpus(corpus_file), max_sentence_length)
    if isinstance(sentences, (str, bytes)) or not hasattr(sentences, "__iter__"):
        raise ValueError(
            "`sentences` must be an iterable of token lists, e.g. [['a', 'cat'], ['a', 'dog']]. "
            f"Received: sentences={describe(sentences)[:120]}."
        )
    if reiterable and iter(sentences) is sentences:
        raise ValueError(
            "`sentences` must be re-iterable (a list, or an object whose `__iter__` starts "
            "over): the vocabulary is counted in one pass and the words read in another. "
            f"Received: sentences={describe(sentences)[:120]}, an iterator that one pass uses up."
        )
    return Sentences(sentences, max_sentence_length)
