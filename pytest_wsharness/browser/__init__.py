"""The edit UI in a real browser: headless Chromium found and launched (``chromium``,
``shared``: one per session or run, a context per client), the page driven and read as an
editor sees it (``client``, with ``page_scripts`` run inside it and ``page_life``: what one
page load left), the CAs it is told to accept
(``trust``), and the pytest fixtures (``plugin``).
"""
