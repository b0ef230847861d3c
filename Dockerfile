# Build: docker build -t dokflyt .   Run: see docker-compose.yml.
# The toolchain is pinned to the one the project is built and tested with.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# src/ includes templates and example files at compile time (include_str!).
COPY templates ./templates
COPY examples ./examples
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
