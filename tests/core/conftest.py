import pytest

from tests import helpers


@pytest.fixture
def reg():
    helpers.reset()
    return helpers.make_registry(with_builtins=True)
