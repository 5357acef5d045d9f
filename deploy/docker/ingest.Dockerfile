# syntax=docker/dockerfile:1.7
# ingest: the HTTP edge. Build from the repository root:
#   docker build -f deploy/docker/ingest.Dockerfile -t colloquy/ingest .
#
# Two stages: the Rust image compiles, a slim Debian image runs the one binary as an
# unprivileged user. Crates are fetched in a step of their own (`cargo fetch --locked`) and
# the build runs `--offline`, so a mirror or a pre-filled cache is all it needs; the cache
# mounts keep the registry and the compiled dependencies between builds. No SQL is checked
# against a database at build time: the services build their queries at run time, and
# `sqlx::migrate!` embeds the migration files as they are.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo fetch --locked
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --offline -p ingest \
    && cp target/release/ingest /usr/local/bin/ingest
# The IP-to-country database (pinned and checked; its licence: deploy/country-db). Mount a
# newer MMDB file over it, or point INGEST_COUNTRY_DB elsewhere, to update it without a build.
RUN cp "$(deploy/country-db /tmp/countries)" /usr/local/share/countries.mmdb \
    && cp /tmp/countries/*/NRO_LICENSE /usr/local/share/countries.NRO_LICENSE

FROM debian:${DEBIAN}-slim
# The Kafka and Postgres clients speak TLS through the system OpenSSL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin colloquy
COPY --from=build /usr/local/bin/ingest /usr/local/bin/ingest
COPY --from=build /usr/local/share/countries.* /usr/local/share/colloquy/
USER 10001:10001
ENV INGEST_ADDR=0.0.0.0:8080 \
    INGEST_METRICS_ADDR=0.0.0.0:8083 \
    INGEST_COUNTRY_DB=/usr/local/share/colloquy/countries.mmdb \
    LOG_FORMAT=json
# 8083 serves /metrics only: publish 8080 to the world, 8083 to Prometheus.
EXPOSE 8080 8083
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["ingest", "healthcheck"]
ENTRYPOINT ["ingest"]
