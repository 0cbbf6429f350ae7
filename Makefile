# lamphp: two commands on a fresh Debian machine.
#   make run   build and serve examples/ on http://127.0.0.1:8080, through the local
#              ALB emulator in front of the Lambda runtime loop
#   make test  install test dependencies and run every test
SHELL := /bin/bash
CARGO ?= cargo
RUN_PACKAGES := php8.2-fpm php8.2-cgi php8.2-cli
# The host's PHP runs the parity, serve, sessions and WordPress tests, with the extensions
# those applications use. dokuwiki: the real application tests/sessions logs in to;
# wordpress, its default theme and mariadb-server: tests/wordpress (which runs its own
# mariadbd, not the system service).
HOST_PHP_PACKAGES := php8.2-fpm php8.2-cli php8.2-opcache php8.2-intl php8.2-curl php8.2-xml \
  php8.2-mbstring php8.2-bcmath php8.2-mysql php8.2-sqlite3 php8.2-pgsql php8.2-zip php8.2-bz2
# The layers (layer/build.sh: Debian's packages through a private apt, patched with
# patchelf and zipped), the container image (umoci), and their test (tests/layer:
# bubblewrap, unzip; qemu-user-static runs the arm64 layers).
LAYER_PACKAGES := patchelf zip binutils perl debian-archive-keyring
TEST_PACKAGES := $(RUN_PACKAGES) $(HOST_PHP_PACKAGES) $(LAYER_PACKAGES) nginx curl dokuwiki \
  wordpress wordpress-theme-twentytwentythree mariadb-server bubblewrap unzip umoci
BENCH_PACKAGES := $(TEST_PACKAGES) wrk php-symfony-http-kernel php-symfony-routing
LISTEN ?= 127.0.0.1:8080
# Seconds each fuzz target runs in `make test` (cargo fuzz: the event decoder, the CGI
# response parser).
FUZZ_SECONDS ?= 20
# The layer `make layer` and `make image` build: PHP 8.4 or 8.2, x86_64 or arm64.
PHP ?= 8.4
HOST_ARCH := $(shell uname -m | sed s/aarch64/arm64/)
ARCH ?= $(HOST_ARCH)
RUST_TARGET = $(if $(filter arm64,$(1)),aarch64,x86_64)-unknown-linux-gnu
# The layers `make test` does not run (it runs 8.4 for this machine's architecture).
OTHER_LAYERS := $(filter-out 8.4-$(HOST_ARCH),8.4-x86_64 8.2-x86_64 8.4-arm64 8.2-arm64)

.PHONY: soak run test test-layers lint bench layer image deps-run deps-test deps-layer

run: deps-run
	$(CARGO) build --release -p lamphp-bootstrap
	@echo "lamphp: serving examples/site on http://$(LISTEN)/ through a local ALB -> Lambda emulator (Ctrl-C stops)"
	./target/release/bootstrap local --root examples/site --listen $(LISTEN)

test: deps-test lint
	$(CARGO) test --workspace
	@# The same parity, sessions, WordPress, serve and fault tests with php-cgi as the PHP backend.
	LAMPHP_PHP_BACKEND=cgi $(CARGO) test -p lamphp-bootstrap --test parity --test sessions \
	  --test wordpress --test serve --test faults
	scripts/fuzz.sh $(FUZZ_SECONDS)

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --quiet

# The Lambda layers for PHP and ARCH, from Debian's packages:
# target/layer/lamphp-php$(PHP)-$(ARCH).zip and its -extra.zip.
layer: deps-layer
	PHP=$(PHP) ARCH=$(ARCH) layer/build.sh

# The container image of that layer: target/layer/lamphp-php$(PHP)-$(ARCH).oci.tar.
image: layer
	@scripts/need.sh umoci
	layer/image.sh target/layer/php$(PHP)-$(ARCH)/base $(ARCH) target/layer/lamphp-php$(PHP)-$(ARCH).oci.tar

# The three layers `make test` leaves out, each through the whole layer test; a layer for
# the other architecture runs under qemu-user with a bootstrap cross-built for it.
test-layers: deps-test deps-layer
	@scripts/need.sh qemu-user-static
	@for layer in $(OTHER_LAYERS); do \
	  arch=$${layer#*-}; \
	  if [ "$$arch" != "$(HOST_ARCH)" ]; then \
	    [ $$arch = arm64 ] && target=aarch64-unknown-linux-gnu || target=x86_64-unknown-linux-gnu; \
	    rustup target list --installed | grep -qx $$target || rustup target add $$target; \
	    $(CARGO) zigbuild --release --locked -p lamphp-bootstrap --target $$target.2.34 || exit 1; \
	    export LAMPHP_LAYER_BOOTSTRAP=$$PWD/target/$$target/release/bootstrap; \
	  fi; \
	  echo "== layer $$layer"; \
	  LAMPHP_LAYER=$$layer $(CARGO) test -p lamphp-bootstrap --test layer || exit 1; \
	done

bench: deps-bench
	benches/run.sh
	$(CARGO) build --release -p lamphp-bootstrap
	$(CARGO) bench -p lamphp-bootstrap --bench lambda
	$(CARGO) bench -p lamphp-bootstrap --bench coldstart

# Ten minutes at half capacity, watching memory and descriptors: a benchmark, not a test.
soak: deps-bench
	benches/soak.sh

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

# cargo-zigbuild and ziglang (PyPI) build the bootstrap for any architecture, linked
# against glibc 2.34 (Amazon Linux 2023's), with the Rust target added if it is missing.
deps-layer:
	@scripts/need.sh $(LAYER_PACKAGES)
	@scripts/need-pip.sh 'python3 -m ziglang version' ziglang
	@scripts/need-pip.sh 'cargo zigbuild --help' cargo-zigbuild
	@rustup target list --installed | grep -qx $(call RUST_TARGET,$(ARCH)) || rustup target add $(call RUST_TARGET,$(ARCH))

deps-bench:
	@scripts/need.sh $(BENCH_PACKAGES)
