# lamphp as a container image, for Lambda container images and for ECS: the layer's
# files in /opt, as a layer would put them, on the base image Lambda itself uses.
#
#   make layer   # or php-build/Dockerfile's output for an Amazon Linux 2023 PHP
#   docker build -t lamphp --build-arg LAYER=target/layer/x86_64 .
#   docker run -p 8080:8080 -v $PWD/examples/site:/var/task/public lamphp
#
# Not built on the development machines (no Docker engine); tests/layer runs this image's
# pieces (/opt from the layer, layer/entrypoint.sh) in an empty root, both as Lambda
# starts an image and as ECS does. Note that a layer assembled from
# Debian's PHP (`make layer` here) needs glibc 2.36 and will not run on this base image;
# use php-build/'s.
FROM public.ecr.aws/lambda/provided:al2023
ARG LAYER=target/layer/x86_64
COPY ${LAYER}/ /opt/
COPY layer/entrypoint.sh /opt/entrypoint.sh
# Your site: the code in /var/task, the front controller named by the Handler on Lambda
# (`public/index.php`), LAMPHP_ROOT for `serve`.
ENV LAMBDA_TASK_ROOT=/var/task LAMPHP_ROOT=/var/task/public
WORKDIR /var/task
EXPOSE 8080
ENTRYPOINT ["/opt/entrypoint.sh"]
# Lambda passes CMD as arguments (its "handler"); entrypoint.sh ignores them there.
CMD ["serve"]
