"""What a run leaves for people: the scenario records and JSON (``scenarios``), the HTML page
with a timeline per scenario (``html``), the pytest plugin that collects them (``plugin``),
``wsharness matrix``'s table (``matrix_table``), tables that fit the terminal (``columns``) and
the progress of a long run (``progress``).
"""
