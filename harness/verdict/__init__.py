"""The verdict: comparing a browser result with its reference (``compare``), by which tolerance
(``tolerances``), and which failures are known upstream bugs or limits (``known_issues``)."""
