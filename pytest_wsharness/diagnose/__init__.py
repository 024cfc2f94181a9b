"""``wsharness diagnose``: open the realtime endpoint as the edit UI does, through the middle
tier and directly, and say what is wrong and the likely fix.

* :mod:`.probe` looks (raw sockets, records only); :mod:`.findings` judges (pure);
  :mod:`.fixes` holds the config lines; :mod:`.report` runs and renders; :mod:`.command` is
  the CLI.
"""

from .findings import Finding, classify
from .probe import probe
from .records import Limits, Probe, Target
from .report import Diagnosis, diagnose

__all__ = ["Diagnosis", "Finding", "Limits", "Probe", "Target", "classify", "diagnose", "probe"]
