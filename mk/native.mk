# Native C kernels (device/native): natmod build, sanitizer fuzzing, Cortex-M4 instruction counts.
#   make natmod MPY_DIR=/path/to/micropython [NATMOD_ARCH=x64]   -> device/native/dist/<arch>_<abi>/
#   make fuzz                                                     -> 1,000,000 cases under ASan/UBSan
#   make bench-native                                             -> instructions/MAC on QEMU Cortex-M4
#   make ulab-micropython MPY_DIR=... ULAB_DIR=...                -> .cache/micropython-ulab/micropython
#   make native-firmware MPY_DIR=...                              -> .cache/micropython-native/micropython

NATMOD_ARCH ?= x64
ULAB_DIR ?= /work/ext/ulab
ULAB_CACHE := .cache/micropython-ulab

# Shared first steps of the MicroPython port builds below (and mk/svm.mk): $(call mpy_port_prep,CACHE)
# checks MPY_DIR, writes an empty frozen manifest and library into CACHE, and builds mpy-cross.
define mpy_port_prep
@test -n "$(MPY_DIR)" || { echo "MPY_DIR not set: give a MicroPython source tree (tag v1.28.0)"; exit 2; }
mkdir -p $(1)/empty-lib && echo "no frozen modules" > $(1)/empty-lib/README.md
echo "# no frozen modules" > $(1)/manifest.py
$(MAKE) -C $(MPY_DIR)/mpy-cross -j2
endef

.PHONY: natmod fuzz bench-native ulab-micropython

natmod: venv
	@test -n "$(MPY_DIR)" || { echo "MPY_DIR not set: natmod needs a MicroPython source tree (make natmod MPY_DIR=...)"; exit 2; }
	$(MAKE) -C device/native MPY_DIR=$(abspath $(MPY_DIR)) ARCH=$(NATMOD_ARCH) dist

fuzz: venv
	$(PY) -m ulearn_host.native.fuzz --cases 1000000

bench-native: venv
	$(PY) -m ulearn_host.native.qemu

# A unix MicroPython with ulab, for the ulab backend tests (kept outside git in .cache).
ulab-micropython:
	$(call mpy_port_prep,$(ULAB_CACHE))
	$(MAKE) -C $(MPY_DIR)/ports/unix -j2 USER_C_MODULES=$(abspath $(ULAB_DIR)) MICROPY_PY_BTREE=0 \
	  MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 FROZEN_MANIFEST=$(abspath $(ULAB_CACHE))/manifest.py \
	  MPY_LIB_DIR=$(abspath $(ULAB_CACHE))/empty-lib BUILD=build-ulearn-ulab
	cp $(MPY_DIR)/ports/unix/build-ulearn-ulab/micropython $(ULAB_CACHE)/micropython

# The unix port with ulearn_native built in as a user C module (firmware binding), for its test.
NATIVE_FW_CACHE := .cache/micropython-native
.PHONY: native-firmware
native-firmware:
	$(call mpy_port_prep,$(NATIVE_FW_CACHE))
	$(MAKE) -C $(MPY_DIR)/ports/unix -j2 USER_C_MODULES=$(CURDIR)/device MICROPY_PY_BTREE=0 \
	  MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 FROZEN_MANIFEST=$(abspath $(NATIVE_FW_CACHE))/manifest.py \
	  MPY_LIB_DIR=$(abspath $(NATIVE_FW_CACHE))/empty-lib BUILD=build-ulearn-native
	cp $(MPY_DIR)/ports/unix/build-ulearn-native/micropython $(NATIVE_FW_CACHE)/micropython

# A 32-bit unix MicroPython (viper integers are 32-bit, as on boards) for the viper test.
# Needs: apt-get install gcc-i686-linux-gnu libc6-dev-i386-cross (static link: no i386 libraries needed).
I686_CACHE := .cache/micropython-i686
.PHONY: micropython-32bit
micropython-32bit:
	$(call mpy_port_prep,$(I686_CACHE))
	$(MAKE) -C $(MPY_DIR)/ports/unix -j2 CROSS_COMPILE=i686-linux-gnu- LDFLAGS_EXTRA=-static MICROPY_PY_BTREE=0 \
	  MICROPY_PY_SSL=0 MICROPY_PY_FFI=0 FROZEN_MANIFEST=$(abspath $(I686_CACHE))/manifest.py \
	  MPY_LIB_DIR=$(abspath $(I686_CACHE))/empty-lib BUILD=build-i686
	cp $(MPY_DIR)/ports/unix/build-i686/micropython $(I686_CACHE)/micropython
