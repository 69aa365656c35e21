"""Session fixtures for the generation-metrics tests: synthetic:tiny converted once.

Import the fixtures into a test module with ``from tests._generation_fixtures import *``.
HARNESS_CACHE points at one session temp dir, so conversions are shared across the
generation test modules and never touch the user's cache.
"""
from __future__ import annotations

import pytest

from model_fixtures import harness_cache  # noqa: F401  (gen_cache's dependency)

MODEL = "synthetic:tiny"
MAX_LENGTH = 32


@pytest.fixture(scope="session")
def gen_cache(harness_cache):
    """The session's one conversion cache (shared with tests/model_fixtures.py, so the
    one-shot fp32 model of synthetic:tiny is converted once, not once per fixture file)."""
    return harness_cache


@pytest.fixture(scope="session")
def tiny_source():
    from harness import models

    return models.resolve(MODEL)


@pytest.fixture(scope="session")
def tiny_tokens(tiny_source):
    from harness.decode_export import prompt_token_ids_fn

    return prompt_token_ids_fn(tiny_source)


@pytest.fixture(scope="session")
def gen_models(gen_cache, tiny_source):
    """{(export, variant, stateful): Converted} for the variants the tests use."""
    from harness import convert

    out = {}
    for export, variants, stateful in (("prefill_decode", ["fp32", "dynamic"], False),
                                       ("prefill_decode", ["fp32"], True),
                                       ("oneshot", ["fp32"], False)):
        for c in convert.convert(tiny_source, variants, MAX_LENGTH, export=export, stateful=stateful,
                                 cache=gen_cache):
            out[(export, c.variant, stateful)] = c
    return out
