"""Runs: a session (one server, one browser, guarded checks: ``session``), the zoo through every
check (``zoo_run``), a user's own model (``model_check``), and where the time goes (``bench``)."""
