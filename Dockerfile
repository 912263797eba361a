# syntax=docker/dockerfile:1
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gateway ./cmd/gateway \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /usr/local/bin/gateway
COPY examples /etc/moegate/examples
# The data directory belongs to the image's non-root user, so a fresh named
# volume mounted there is writable.
COPY --from=build --chown=65532:65532 /out/data /var/lib/moegate
WORKDIR /var/lib/moegate
ENV MOEGATE_ADDR=0.0.0.0:8080 \
    MOEGATE_DATA_DIR=/var/lib/moegate
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve"]
