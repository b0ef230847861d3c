# Build: docker build -t dokflyt .   (the product image: the `dokflyt` binary only)
# The demo: docker build --target demo -t dokflyt-demo .   Run: see docker-compose.yml.
# The toolchain is pinned to the one the project is built and tested with.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's other member (the demo, benchmarks and stand-ins): cargo reads
# its manifest for every build; the product build compiles none of it.
COPY dev ./dev
COPY migrations ./migrations
# src/ and dev/src include templates and example files at compile time (include_str!).
COPY templates ./templates
COPY examples ./examples
RUN cargo build --release --locked -p dokflyt --bin dokflyt

# The demo's binary, on top of the product's build (dependencies compiled once).
FROM build AS build-demo
RUN cargo build --release --locked -p dokflyt-dev --bin dokflyt-dev

# `dokflyt-dev demo`: the product's service fed with the examples, against the
# stand-ins (docker-compose.yml). Never the image to deploy.
FROM debian:bookworm-slim AS demo
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app dokflyt
WORKDIR /app
COPY --from=build-demo /src/target/release/dokflyt-dev /usr/local/bin/dokflyt-dev
COPY routing-rules ./routing-rules
COPY templates ./templates
COPY examples ./examples
RUN mkdir -p out && chown dokflyt out
USER dokflyt
EXPOSE 8080 8081
ENTRYPOINT ["dokflyt-dev"]
CMD ["demo"]

# The product (the default target, last): the `dokflyt` binary, its routing
# rules and templates; no demo, no benchmark, no stand-in, no example.
FROM debian:bookworm-slim AS product
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app dokflyt
WORKDIR /app
COPY --from=build /src/target/release/dokflyt /usr/local/bin/dokflyt
COPY routing-rules ./routing-rules
COPY templates ./templates
USER dokflyt
EXPOSE 8080
ENTRYPOINT ["dokflyt"]
CMD ["serve"]
