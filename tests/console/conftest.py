"""The web console in a real browser: headless Chromium from Debian (chromium, chromium-driver) driven
by selenium, against a real control plane with the demo services (console_plane.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from console_plane import CHROMEDRIVER, CHROMIUM, Plane, viewport  # noqa: E402


@pytest.fixture(scope="session")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    instance = Plane(tmp_path_factory.mktemp("console"))
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800",
                     "--force-device-scale-factor=1", "--hide-scrollbars", "--lang=en-GB", "--disable-extensions",
                     "--no-first-run", "--disable-background-networking"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The browser with a 1280×800 viewport, as each test starts."""
    viewport(browser, 1280, 800)
    yield browser
