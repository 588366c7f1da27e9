FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --package jobby

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 jobby
COPY --from=build /src/target/release/jobby /usr/local/bin/jobby
USER jobby
ENV JOBBY_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/jobby"]
CMD ["serve"]
