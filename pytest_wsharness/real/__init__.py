"""Real proxies (nginx, HAProxy, ...) with the configs customers run, and the simulated profiles
they are held against."""
