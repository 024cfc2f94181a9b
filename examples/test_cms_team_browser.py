"""The same promises, checked in a real browser: what an editor sees in Chromium.

``cms_browser`` loads the simulated CMS's edit UI in headless Chromium (Debian's ``chromium``
package; ``pip install 'pytest-wsharness[browser]'`` brings Playwright) through the proxy under
test. The assertions are the ones the Python client meets; here they read the page's DOM and
the browser's own WebSocket record. Without Chromium these tests skip and say so.
"""

from __future__ import annotations

import pytest

from pytest_wsharness.assertions import assert_expected_outcome
from pytest_wsharness.client.machine import Dialog
from pytest_wsharness.protocol import NO_CONNECTION_TEXT, Action, Topic

# A browser's timers slip on a busy CI machine: run the CMS's timings 10 times faster here
# (a 300 ms heartbeat, the plugin's default), not the repository suite's 100 times. A run the
# harness was too busy to judge is re-run at 4 and 16 times this.
pytestmark = pytest.mark.wsharness_time_scale(0.1)


@pytest.mark.wsharness_profiles("compliant", "header-stripping", "firewall", "idle-timeout-2s")
def test_the_editor_sees_what_the_proxy_allows(cms_browser, cms_server, cms_proxy):
    assert_expected_outcome(cms_browser, cms_server, cms_proxy)


@pytest.mark.wsharness_profiles("header-stripping")
def test_behind_a_stripping_proxy_the_page_says_so_and_stays_usable(cms_browser, cms_server):
    cms_browser.settle()
    assert cms_browser.view.dialogs == {Dialog.NO_CONNECTION}
    assert cms_browser.machine.attempts == 1  # the browser's own record: no retry storm
    page = cms_browser.engine.page  # Playwright's page, for what the spec does not cover
    assert NO_CONNECTION_TEXT in cms_browser.loop.run(page.inner_text("#dialogs"), 10)

    # The page's own controls still work: a colleague's new project shows on "Reload projects".
    project = {"id": "p-7", "action": int(Action.SAVED), "name": "Autumn campaign"}
    cms_server.publish(Topic.PROJECT, project)
    cms_browser.loop.run(page.click("#reload-projects"), 10)
    cms_browser.wait_for(lambda: "p-7" in cms_browser.view.projects, 5, "the reloaded list")
    assert cms_browser.engine.loads == 1  # no page reload was needed
