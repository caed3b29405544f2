"""Every contract name is written once, in bgjobs/vocabulary.py.

Annotations, labels, the finalizer, condition types, the API group and the
Redis prefix are read by users and by other versions of the operator; a copy
of one elsewhere drifts. This looks at every string in the package's and
the benchmarks' code (docstrings aside) for one of them. The tests write them
out on purpose (a user types them); the handler images do not depend on the
package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgjobs import vocabulary as v

PACKAGE = Path(v.__file__).parent
ROOT = PACKAGE.parents[1]
SOURCES = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "bench").rglob("*.py")])
NAMES = [
    v.RETRY_ANNOTATION,
    v.RUN_NOW_ANNOTATION,
    v.SCHEDULED_TIME_ANNOTATION,
    v.SUMMARY_MARK,
    *v.PHASE_LABELS,
    v.LABEL_JOB,
    v.LABEL_ATTEMPT,
    v.LABEL_SCHEDULE,
    *v.MANAGED_BY,
    v.OUTCOME_FINALIZER,
    v.READY,
    v.DEFAULT_REDIS_PREFIX,
    v.API_VERSION,
]
# What follows the group in f"{API_GROUP}/...": a name built from the constant.
SUFFIXES = [name.removeprefix(v.API_GROUP) for name in NAMES if name.startswith(v.API_GROUP)]


def strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every string constant (f-string parts included), docstrings left out."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(text, str) and id(node) not in docstrings:
            yield getattr(node, "lineno", 0), text


def copies() -> list[str]:
    found = []
    for path in SOURCES:
        if path.name == "vocabulary.py":
            continue
        for line, text in strings(ast.parse(path.read_text())):
            if text in NAMES or text in SUFFIXES or v.API_GROUP in text:
                found.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    return found


def test_no_contract_name_is_written_outside_the_vocabulary() -> None:
    assert copies() == []


@pytest.mark.parametrize(
    ("source", "caught"),
    [
        pytest.param('LABEL = "bgjobs.io/job"', True, id="a label"),
        pytest.param('f"{API_GROUP}/run-now"', True, id="built from the group"),
        pytest.param('PREFIX = "bgjobs:"', True, id="the Redis prefix"),
        pytest.param('"""The bgjobs.io/retry annotation."""', False, id="a docstring"),
        pytest.param('print(f"bgjobs: {error}")', False, id="other text"),
    ],
)
def test_the_check_finds_copies(source: str, caught: bool) -> None:
    texts = [t for _, t in strings(ast.parse(source))]
    assert any(t in NAMES or t in SUFFIXES or v.API_GROUP in t for t in texts) == caught
