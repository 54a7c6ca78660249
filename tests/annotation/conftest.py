import pytest

from tests.factories import UserFactory


@pytest.fixture
def annotators(db):
    """Five annotators, ann1 … ann5."""
    return [UserFactory(username=f"ann{i}", role="Annotator") for i in range(1, 6)]
