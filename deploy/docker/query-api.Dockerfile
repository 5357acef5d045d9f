# syntax=docker/dockerfile:1.7
# query-api: the admin API and dashboard. Build from the repository root:
#   docker build -f deploy/docker/query-api.Dockerfile -t colloquy/query-api .
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
    cargo build --release --locked --offline -p query-api --bin query-api \
    && cp target/release/query-api /usr/local/bin/query-api

FROM debian:${DEBIAN}-slim
# The Kafka, Postgres and SMTP clients speak TLS through the system OpenSSL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin colloquy
COPY --from=build /usr/local/bin/query-api /usr/local/bin/query-api
USER 10001:10001
ENV QUERY_API_ADDR=0.0.0.0:8081 \
    QUERY_API_METRICS_ADDR=0.0.0.0:8084 \
    LOG_FORMAT=json
# 8084 serves /metrics only: publish 8081 to admins, 8084 to Prometheus.
EXPOSE 8081 8084
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["query-api", "healthcheck"]
ENTRYPOINT ["query-api"]
