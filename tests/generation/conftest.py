"""Fixtures of the generation tests (shared with the other pipeline stages: tests/pipeline_fixtures.py)."""

from tests.pipeline_fixtures import FAST_RETRIES, _isolated_generation, freeze, legality, make_endpoint, media  # noqa: F401
