"""A team's own CMS as the server under test (``--wsharness-upstream``, ``wsharness matrix
--upstream``): the deployment and what the harness can and cannot do to it (``deployment``),
how it is asked to push an update (``triggers``), and whether it answers when asked directly
(``reachable``).
"""
