"""One scenario from start to verdict: the parts set up (``rig``), the client watched while
an update is published (``observe``, with ``updates``: where it comes from), what each hop did
said in words (``explain``) and in time (``timeline``), and every profile at once (``matrix``).
The verdict itself is :mod:`pytest_wsharness.verdict`, public.
"""
