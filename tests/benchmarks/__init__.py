"""Performance benchmarks at national scale; run with ``python -m tests.benchmarks.run``.

Not part of the test suite: pytest does not collect this folder.
"""

from __future__ import annotations
