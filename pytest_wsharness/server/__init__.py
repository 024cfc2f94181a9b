"""The simulated CMS realtime server."""

from .cms import SimulatedCMS
from .content import Content
from .records import RequestRecord

__all__ = ["Content", "RequestRecord", "SimulatedCMS"]
