# kobe: a multi-stage build. The builder compiles the release binary; the runtime image is
# Debian slim with CA certificates (Kraken's TLS) and the binary, run as a non-root user.
# Used by compose/docker-compose.yml; the pipeline is mounted at /etc/kobe/pipeline.yaml.

FROM rust:1-bookworm AS build
# cmake and the headers librdkafka's build needs (the Kafka sink).
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake libssl-dev libsasl2-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin kobe \
    && strip target/release/kobe

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin kobe
COPY --from=build /src/target/release/kobe /usr/local/bin/kobe
USER kobe:kobe
EXPOSE 2112
ENTRYPOINT ["kobe"]
CMD ["run", "/etc/kobe/pipeline.yaml"]
