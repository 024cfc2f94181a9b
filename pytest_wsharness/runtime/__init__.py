"""What every part runs on: event loops on threads (``loopthread``, ``engine``) and their lag
(``lag``), the time scale (``timescale``), test certificates (``tls``), credentials kept out of
logs (``redact``), the network's rules (``listen``: loopback only; ``urls``), the plugin's
options (``options``) and re-runs (``rerun``), sync handles for sync tests (``sync``), and
skipping on a missing part (``require``).
"""
