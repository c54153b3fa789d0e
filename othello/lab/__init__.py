"""The lab: the whole experiment as one cached pipeline, what ``--out DIR`` writes, and the HTML report.

- ``demo``: ``run_demo``, the whole experiment in one cached call (``DemoConfig``, ``summary_table``).
- ``figures``: the figures the demo draws for the report.
- ``outputs``: what ``--out DIR`` writes (CSV, JSON, figures).
- ``report``: ``write_report``, one HTML page of a run.
"""

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "othello.lab.demo": ["DemoConfig", "run_demo"],
        "othello.lab.report": ["write_report"],
    },
)
