# syntax=docker/dockerfile:1
#
# The switchboard image: `docker build -t switchboard .` (BuildKit, the default builder since
# Docker 23). `deploy/compose.yaml` runs it with PostgreSQL behind a load balancer.

# The build: the crate's rust-version (Cargo.toml) on Debian bookworm, which has the C compiler
# and make that the bundled SQLite and jemalloc need.
FROM rust:1.89-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# Dependencies first, so that this layer is only redone when Cargo.toml or Cargo.lock change.
# Every target the manifest declares (the lib, the binary, the test and the benches) gets an
# empty stand-in here, so cargo has a complete package before the sources are copied.
COPY Cargo.toml Cargo.lock ./
RUN sed -n 's/^path = "\(.*\)"$/\1/p' Cargo.toml | while read -r target; do \
        mkdir -p "$(dirname "$target")" && touch "$target"; \
    done \
    && cargo fetch --locked

# What is compiled into the binary: the sources and, through include_str!, include_bytes! and
# sqlx::migrate!, the card templates and their samples, the demo tenant, the Teams app manifest
# (template, schema, icons) and the migrations. The benches and tests keep their stand-ins.
COPY src ./src
COPY cards ./cards
COPY demo ./demo
COPY manifest ./manifest
COPY migrations ./migrations

# target/ stays in a build cache between builds, so a change to the sources recompiles the
# crate and not every dependency; the binary is copied out of it.
RUN --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --offline --bin switchboard \
    && install -m 0755 target/release/switchboard /usr/local/bin/switchboard

# The runtime: the binary, CA certificates and curl for the health check.
FROM debian:bookworm-slim

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

# A user of its own, and the working directory it owns: the default store
# (sqlite://switchboard.db) and an optional switchboard.toml are read from there. Mount a volume
# on /var/lib/switchboard to keep an SQLite store; with PostgreSQL nothing is written to it.
RUN groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --no-create-home \
        --home-dir /var/lib/switchboard --shell /usr/sbin/nologin switchboard \
    && install -d -o switchboard -g switchboard -m 0750 /var/lib/switchboard

COPY --from=build /usr/local/bin/switchboard /usr/local/bin/switchboard

WORKDIR /var/lib/switchboard

# Listen on every interface of the container. Anonymous dev mode is refused on a non-loopback
# bind, so the container needs bot.app_id and bot.app_password (SWITCHBOARD_BOT__APP_ID,
# SWITCHBOARD_BOT__APP_PASSWORD). A different port here needs the HEALTHCHECK changed too.
ENV SWITCHBOARD_SERVER__BIND=0.0.0.0:3978
EXPOSE 3978

# /readyz answers 200 when the instance can serve and 503 when it cannot (its store does not
# answer); curl exits non-zero on anything but a 2xx, which marks the container unhealthy.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", \
         "--max-time", "2", "http://127.0.0.1:3978/readyz"]

# The switchboard user, by number, so that an orchestrator can tell it is not root.
USER 10001:10001
ENTRYPOINT ["switchboard"]
CMD ["serve"]
