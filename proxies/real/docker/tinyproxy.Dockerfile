# tinyproxy from Debian's package, on the harness's base (a setting: WSHARNESS_DOCKER_BASE; users may
# name an official image such as debian:bookworm-slim). Built with --network host.
ARG BASE=wsharness/base:bookworm
FROM ${BASE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tinyproxy \
    && rm -rf /var/lib/apt/lists/*
