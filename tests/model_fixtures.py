"""Session-wide converted models of synthetic:tiny, shared by the test files that need them.

Conversion of the tiny shape takes ~10 s per variant in a fresh process; doing it once
per session keeps the suite quick. ``HARNESS_CACHE`` points every conversion in the
session (the CLI's too) at one cache directory.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

TINY_MAX_LENGTH = 32
ALL_VARIANTS = ["fp32", "dynamic", "fp16", "int8"]


@pytest.fixture(scope="session")
def harness_cache(tmp_path_factory) -> Path:
    cache = Path(os.environ.get("HARNESS_TEST_CACHE") or tmp_path_factory.mktemp("harness-cache"))
    old = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("HARNESS_CACHE", None)
    else:
        os.environ["HARNESS_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_models(harness_cache):
    """Every variant of synthetic:tiny at max length 32, converted once: {variant: Converted}."""
    from harness import convert, models

    source = models.resolve("synthetic:tiny")
    return {c.variant: c for c in convert.convert(source, ALL_VARIANTS, TINY_MAX_LENGTH, cache=harness_cache)}
