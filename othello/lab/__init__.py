"""The lab: the whole experiment as one cached pipeline, what ``--out DIR`` writes, and the HTML report.

- ``demo``: ``run_demo``, the whole experiment in one cached call (``DemoConfig``, ``summary_table``).
- ``figures``: the figures the demo draws for the report.
- ``outputs``: what ``--out DIR`` writes (CSV, JSON, figures).
- ``report``: ``write_report``, one HTML page of a run.
"""

from typing import TYPE_CHECKING

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.lab.demo": ["DemoConfig", "run_demo"],
        "othello.lab.report": ["write_report"],
    },
)

if TYPE_CHECKING:  # what editors and type checkers see: the same names, imported eagerly
    from othello.lab.demo import DemoConfig, run_demo
    from othello.lab.report import write_report
