# The real-browser fixtures (Debian's chromium, a 360 px phone screen) are the journey test's.
from sessions_app.tests.test_browser import browser_page, chromium_path  # noqa: F401
