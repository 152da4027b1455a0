# syntax=docker/dockerfile:1
#
# Two images from one build:
#   docker build --target shipyard   -t shipyard .     (the portal; also the default target)
#   docker build --target github-sim -t github-sim .   (the GitHub emulator for the sandbox)
# docker-compose.yml builds both.

# ---- build ----------------------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /build
# Queries are checked against the committed .sqlx/ data; no database at build time.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# Dependencies first, with stub sources, so this layer is reused until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
COPY github-sim/Cargo.toml github-sim/Cargo.toml
RUN mkdir -p src github-sim/src \
    && echo 'fn main() {}' > src/main.rs && : > src/lib.rs \
    && echo 'fn main() {}' > github-sim/src/main.rs && : > github-sim/src/lib.rs \
    && cargo build --release --locked -p shipyard -p github-sim --bin shipyard --bin github-sim

# The real sources. COPY keeps the files' original mtimes, which can be older than the stub build above, so touch
# the crate roots: otherwise cargo would consider the stub artifacts fresh.
COPY . .
RUN touch src/main.rs src/lib.rs github-sim/src/main.rs github-sim/src/lib.rs \
    && cargo build --release --locked -p shipyard -p github-sim --bin shipyard --bin github-sim \
    && install -D -m 0755 target/release/shipyard /out/shipyard \
    && install -D -m 0755 target/release/github-sim /out/github-sim

# ---- runtime base ---------------------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app

# ---- github-sim -----------------------------------------------------------------------------------------------
FROM runtime AS github-sim
COPY --from=builder /out/github-sim /usr/local/bin/github-sim
COPY github-sim/seed.sandbox.json github-sim/seed.sandbox.json
USER 10001:10001
EXPOSE 3001
# bash's /dev/tcp: no curl needed in the image.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/3001"]
ENTRYPOINT ["github-sim"]
CMD ["--listen", "0.0.0.0:3001", "--seed", "github-sim/seed.sandbox.json"]

# ---- shipyard (last, so a plain `docker build .` produces it) -------------------------------------------------
FROM runtime AS shipyard
COPY --from=builder /out/shipyard /usr/local/bin/shipyard
# Templates, static files and migrations are compiled into the binary: it needs no files of its own, so the
# root filesystem can be read-only (deploy/kubernetes/deployment.yaml).
USER 10001:10001
ENV LISTEN_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 8080
# A plain HTTP/1.0 GET /healthz over bash's /dev/tcp (assumes the default port 8080).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["shipyard"]
