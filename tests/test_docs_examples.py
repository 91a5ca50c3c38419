"""The ```python examples of README.md and docs/*.md run as written, under the current backend.

The blocks of one page run in order in one namespace, as a reader would paste them, so a
later block may use what an earlier one defined. A block whose first line starts with
`# not run:` (it needs a download, several devices or several processes) is only compiled.
Docstring examples are run by test_docstring_examples.py.
"""

import pathlib
import re

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = "# not run:"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(text):
    """`(first line number, source)` of every ```python block of a markdown text."""
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in PYTHON_BLOCK.finditer(text)]


def is_runnable(source):
    return not source.lstrip().startswith(NOT_RUN)


def page_blocks(page):
    return python_blocks(page.read_text(encoding="utf-8"))


def compiled(page, line, source):
    # Padding with blank lines makes tracebacks point at the markdown file's own line numbers.
    return compile("\n" * (line - 1) + source, str(page), "exec")


RUNNABLE_PAGES = [page for page in PAGES if any(is_runnable(source) for _, source in page_blocks(page))]


def test_python_blocks_finds_each_block_with_its_line_and_skips_other_languages():
    text = "intro\n```python\nx = 1\n```\n```bash\nmake test\n```\n```python\n# not run: needs a file\ny = 2\n```\n"
    blocks = python_blocks(text)
    assert blocks == [(3, "x = 1\n"), (9, "# not run: needs a file\ny = 2\n")]
    assert [is_runnable(source) for _, source in blocks] == [True, False]


def test_readme_and_the_docs_pages_have_runnable_examples():
    # Guards the parametrised test below against silently collecting nothing.
    names = {page.name for page in RUNNABLE_PAGES}
    assert {"README.md", "tables.md", "rope.md", "vectors.md", "sparse.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_python_block_is_valid_python(page):
    for line, source in page_blocks(page):
        compiled(page, line, source)


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[page.name for page in RUNNABLE_PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    keras.utils.clear_session()
    namespace = {"__name__": f"docs_example_{page.stem}"}
    for line, source in page_blocks(page):
        if is_runnable(source):
            exec(compiled(page, line, source), namespace)
