"""The CMS edit UI's realtime client: its state machine, pure (``machine``), the Python
driver that runs it over real sockets (``driver``, with ``waiting``), what every client offers
the assertions (``base``) and what the editor sees (``view``).
"""
