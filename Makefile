# Thin front door over CMake. The real build lives in CMakeLists.txt.
BUILD   ?= build
ASAN    ?= build-asan
NOOMP   ?= build-noomp
FUZZDIR ?= build-fuzz
JOBS    ?= $(shell nproc)
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=

.PHONY: all setup setup-test build demo test test-fast test-asan test-noomp bench fuzz install readme-figures clean

all: build

setup:
	@bash scripts/deps.sh

setup-test:
	@bash scripts/deps.sh --test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The quickstart: a perceptron, a LeNet on Fashion-MNIST, then the report.
demo: build
	$(BUILD)/soma run perceptron
	$(BUILD)/soma run lenet-fmnist
	$(BUILD)/soma run cuba
	$(BUILD)/soma report

# Every test: the release build, then the whole suite again without OpenMP and under ASan + UBSan.
test: setup-test build
	cd $(BUILD) && SOMA_REQUIRE_BROWSER=1 SOMA_REQUIRE_FMNIST=1 SOMA_REQUIRE_NUMPY=1 SOMA_REQUIRE_SKIMAGE=1 ctest --output-on-failure -j 2
	$(MAKE) test-noomp
	$(MAKE) test-asan

# (build installs the data set, so it is required here too; the browser is not installed)
test-fast: build
	cd $(BUILD) && SOMA_REQUIRE_FMNIST=1 SOMA_REQUIRE_NUMPY=1 SOMA_REQUIRE_SKIMAGE=1 ctest --output-on-failure -j 2

# OpenMP is optional: the build without it must train (every data-parallel slice included).
test-noomp: setup-test
	cmake -S . -B $(NOOMP) -DCMAKE_BUILD_TYPE=Release -DSOMA_OPENMP=OFF -DSOMA_SHARED=OFF $(CMAKE_FLAGS)
	cmake --build $(NOOMP) -j $(JOBS)
	cd $(NOOMP) && SOMA_REQUIRE_BROWSER=1 SOMA_REQUIRE_FMNIST=1 SOMA_REQUIRE_NUMPY=1 SOMA_REQUIRE_SKIMAGE=1 ctest --output-on-failure -j 2

test-asan: setup-test
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DSOMA_SANITIZE=ON -DSOMA_SHARED=OFF $(CMAKE_FLAGS)
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  SOMA_SANITIZED=1 SOMA_REQUIRE_BROWSER=1 SOMA_REQUIRE_FMNIST=1 SOMA_REQUIRE_NUMPY=1 SOMA_REQUIRE_SKIMAGE=1 ctest --output-on-failure -j 2

bench: build
	@bash scripts/deps.sh --bench
	bash bench/vs_torch.sh
	bash bench/vs_brian2.sh
	bash bench/vs_numpy.sh

fuzz: setup
	@bash scripts/deps.sh --fuzz
	cmake -S . -B $(FUZZDIR) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSOMA_FUZZ=ON -DSOMA_OPENMP=OFF -DSOMA_SHARED=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZDIR) -j $(JOBS)
	bash fuzz/run.sh $(FUZZDIR) $(FUZZ_SECONDS)

# Installs into CMAKE_INSTALL_PREFIX (/usr/local unless CMAKE_FLAGS says otherwise); as root
# it also runs ldconfig. PREFIX=DIR installs elsewhere.
install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

# The README's figures from full-size runs on this machine (many minutes; see the script).
readme-figures: build
	bash scripts/readme_figures.sh --soma $(BUILD)/soma

clean:
	rm -rf $(BUILD) $(ASAN) $(NOOMP) $(FUZZDIR)
