from tests.hooks.conftest import make_app  # noqa: F401 (the hook tests' application factory)
