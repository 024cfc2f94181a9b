"""mitmproxy addons, one behaviour each; each file also runs as ``mitmdump -s FILE``.

Importing this package imports mitmproxy: only the proxy engine does, lazily.
"""
