"""pytest-wsharness: prove that CMS realtime updates survive the proxies in between."""

__version__ = "0.1.0"
