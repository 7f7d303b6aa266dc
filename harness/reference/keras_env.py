"""What TensorFlow must see before it is imported, and the versions that shape reference numbers."""

from __future__ import annotations

import os
from importlib import metadata

VERSIONED_PACKAGES = ("tensorflow", "tf-keras", "tensorflowjs", "numpy")


def configure_tensorflow_environment() -> None:
    """Environment TensorFlow must see before it is imported: Keras 2, oneDNN off, quiet logs, no banner.

    oneDNN is off by default here so references are the plain float32 kernels; a user who sets
    ``TF_ENABLE_ONEDNN_OPTS`` keeps their choice, and the setting is part of the cache key.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TF-DF (imported by tensorflowjs) imports IPython for its welcome banner when stdout is not
    # a terminal, as under CI; IPython is not a dependency, so the import would fail.
    os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")


def onednn_setting() -> str:
    """The oneDNN setting references are built with (after ``configure_tensorflow_environment``)."""
    configure_tensorflow_environment()
    return os.environ["TF_ENABLE_ONEDNN_OPTS"]


def library_versions() -> dict[str, str]:
    """Installed versions of the packages that shape reference numbers (no imports)."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions
