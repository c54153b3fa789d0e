"""Apps: the shell on top of the library: the command line, the demo pipeline and the HTML report.

- ``cli``: ``othello-gpt``; each command parses its arguments and calls one library function.
- ``args``: the argument types every command shares (ranges ``4-8``, lists ``3,5,7``, windows ``5-53``).
- ``outputs``: what ``--out DIR`` writes (CSV, JSON, figures).
- ``demo``: ``run_demo``, the whole experiment in one cached call; ``report``: ``write_report``, one HTML page.
"""

from othello._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "apps.cli": ["main", "build_parser"],
        "apps.demo": ["DemoConfig", "run_demo"],
        "apps.report": ["write_report"],
    },
)
