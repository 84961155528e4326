"""The environment for a CLI or worker subprocess that must work in a test's scratch namespace."""

from __future__ import annotations

import os
from collections.abc import Mapping

from flockwatch.config import Settings


def namespace_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` with ``settings``' topic and index prefixes, plus ``extra``."""
    return {
        **os.environ,
        "FLOCKWATCH_TOPIC_PREFIX": settings.topic_prefix,
        "FLOCKWATCH_INDEX_PREFIX": settings.index_prefix,
        **(extra or {}),
    }
