# versitygw, the S3-compatible store of compose.yaml, built from its Go module
# (Apache-2.0). v1.8.0 or later: older versions let several conditional writers win.
FROM golang:1.26-bookworm AS build
RUN CGO_ENABLED=0 GOBIN=/out go install github.com/versity/versitygw/cmd/versitygw@v1.8.0

FROM debian:bookworm-slim
COPY --from=build /out/versitygw /usr/local/bin/versitygw
RUN useradd --system --uid 10002 --create-home versitygw && install -d -o versitygw /data
USER 10002
ENTRYPOINT ["versitygw"]
