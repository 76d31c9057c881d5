# The jobwq image: the seeding Job runs it, and the worker pods' init
# container copies its binary into the user's worker image (jobwq install).
# A static binary on distroless, run as a numeric non-root user so the
# restricted Pod Security Standard admits it.
#
#   docker build -t registry.example.com/tools/jobwq:v0.1.0 .
#
# then set spec.runner.image to it.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/jobwq ./cmd/jobwq-runner

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jobwq /jobwq
USER 10001:10001
ENTRYPOINT ["/jobwq"]
