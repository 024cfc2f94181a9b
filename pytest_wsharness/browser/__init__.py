"""The edit UI in a real browser: the simulated CMS's page in headless Chromium, via Playwright."""
