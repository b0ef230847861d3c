# Build: docker build -t dokflyt .   Run: see docker-compose.yml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin dokflyt

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app dokflyt
WORKDIR /app
COPY --from=build /src/target/release/dokflyt /usr/local/bin/dokflyt
COPY routing-rules ./routing-rules
COPY templates ./templates
COPY examples ./examples
USER dokflyt
EXPOSE 8080
ENTRYPOINT ["dokflyt"]
CMD ["serve"]
