"""Repository-level pytest configuration. The harness's own plugin loads through its entry point."""

pytest_plugins = ["pytester"]
