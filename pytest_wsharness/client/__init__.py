"""The CMS edit UI's realtime client: its state machine, pure (``machine``), on the CMS's own
timings (``timings``); the Python driver that runs it over real sockets (``driver``, with
``waiting``; its REST reads, ``rest``; what its socket saw, ``events``; and its words for a
failure, ``phrases``); what every client offers the assertions (``base``) and what the editor
sees (``view``).
"""
