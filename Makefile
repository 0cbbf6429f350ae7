# lamphp: two commands on a fresh Debian machine.
#   make run   build and serve examples/ on http://127.0.0.1:8080, through the local
#              ALB emulator in front of the Lambda runtime loop
#   make test  install test dependencies and run every test
SHELL := /bin/bash
CARGO ?= cargo
RUN_PACKAGES := php8.2-fpm php8.2-cli
# bubblewrap, patchelf, zip, unzip: the layer and its test (tests/layer); dokuwiki: the
# real application tests/sessions logs in to; wordpress, its default theme and
# mariadb-server: tests/wordpress (which runs its own mariadbd, not the system service).
# wordpress depends on php8.2-gd, which the host-PHP layer leaves out (LAYER_SKIP).
# The extensions php-build/ compiles, as Debian packages, so the layer `make layer` and the
# layer test assemble from this machine's PHP carries the same set. Not php8.2-gd: Debian's
# libgd drags in AV1/HEIF/X11 libraries (34 MB) that PHP's bundled gd (php-build/) does not.
LAYER_PHP_PACKAGES := php8.2-fpm php8.2-cli php8.2-opcache php8.2-intl php8.2-curl php8.2-xml \
  php8.2-mbstring php8.2-bcmath php8.2-mysql php8.2-sqlite3 php8.2-pgsql php8.2-zip php8.2-bz2
# Host extensions `make layer` leaves out (tests/layer passes the same to layer/build.sh).
LAYER_SKIP := gd
TEST_PACKAGES := $(RUN_PACKAGES) $(LAYER_PHP_PACKAGES) nginx curl dokuwiki \
  wordpress wordpress-theme-twentytwentythree mariadb-server bubblewrap patchelf zip unzip binutils
BENCH_PACKAGES := $(TEST_PACKAGES) wrk
LISTEN ?= 127.0.0.1:8080
# Seconds each fuzz target runs in `make test` (cargo fuzz: the event decoder, the CGI
# response parser).
FUZZ_SECONDS ?= 20

.PHONY: run test lint bench layer deps-run deps-test deps-layer

run: deps-run
	$(CARGO) build --release -p lamphp-bootstrap
	@echo "lamphp: serving examples/site on http://$(LISTEN)/ through a local ALB -> Lambda emulator (Ctrl-C stops)"
	./target/release/bootstrap local --root examples/site --listen $(LISTEN)

test: deps-test lint
	$(CARGO) test --workspace
	scripts/fuzz.sh $(FUZZ_SECONDS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet

# The Lambda layer, from the host's PHP: target/layer/lamphp-layer-<arch>.zip.
layer: deps-layer
	SKIP_EXTENSIONS="$(LAYER_SKIP)" layer/build.sh

bench: deps-bench
	benches/run.sh
	$(CARGO) build --release -p lamphp-bootstrap
	$(CARGO) bench -p lamphp-bootstrap --bench lambda

deps-run:
	@scripts/need.sh $(RUN_PACKAGES)

# From PyPI: moto's S3 server (tests/offload, tests/lambda), cargo-lambda's Runtime
# API emulator (tests/lambda), cfn-lint and the SAM transform (tests/sam); pip runs only
# for what is missing.
deps-test:
	@scripts/need.sh $(TEST_PACKAGES)
	@scripts/need-pip.sh 'python3 -c "import moto.server"' 'moto[server]'
	@scripts/need-pip.sh 'cargo lambda --help' cargo-lambda
	@scripts/need-pip.sh 'cfn-lint --version' cfn-lint
	@scripts/need-pip.sh 'python3 -c "import samtranslator"' aws-sam-translator

# cargo-zigbuild and ziglang (PyPI) build the bootstrap for Amazon Linux 2023's glibc 2.34.
deps-layer:
	@scripts/need.sh $(LAYER_PHP_PACKAGES) patchelf zip binutils
	@scripts/need-pip.sh 'python3 -m ziglang version' ziglang
	@scripts/need-pip.sh 'cargo zigbuild --help' cargo-zigbuild

deps-bench:
	@scripts/need.sh $(BENCH_PACKAGES)
