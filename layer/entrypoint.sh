#!/bin/sh
# The container image's entry point (see ../Dockerfile). In a Lambda sandbox
# (AWS_LAMBDA_RUNTIME_API set) run the Runtime API loop, whatever CMD says: Lambda hands
# the image's CMD over as arguments, and it would otherwise start `serve`. Elsewhere (ECS,
# docker run) run what CMD or the task definition asks for: `serve` by default.
# The PHP ini the layer's php-fpm reads is set up by the bootstrap itself, as on a layer.
set -eu
if [ -n "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  exec /opt/bootstrap lambda
fi
[ $# -gt 0 ] || set -- serve
exec /opt/bootstrap "$@"
