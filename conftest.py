import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate limits and tokens live in the cache; each test starts with an empty one."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
