# Viper features/SVMs on ARM code: a Cortex-M3 MicroPython in QEMU (qemu port, board MPS2_AN385).
#   make micropython-qemu-m3 MPY_DIR=/path/to/micropython   -> .cache/micropython-qemu-m3/firmware.elf
# Used by tests/test_svm_viper_qemu.py and `ulearn bench svm` (they skip it when it is absent).
# Needs: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm.

QEMU_M3_CACHE := .cache/micropython-qemu-m3

.PHONY: micropython-qemu-m3
micropython-qemu-m3:
	$(call mpy_port_prep,$(QEMU_M3_CACHE))
	$(MAKE) -C $(MPY_DIR)/ports/qemu -j2 BOARD=MPS2_AN385 BUILD=$(abspath $(QEMU_M3_CACHE))/build \
	  MICROPY_HEAP_SIZE=1048576 FROZEN_MANIFEST=$(abspath $(QEMU_M3_CACHE))/manifest.py \
	  MPY_LIB_DIR=$(abspath $(QEMU_M3_CACHE))/empty-lib
	cp $(QEMU_M3_CACHE)/build/firmware.elf $(QEMU_M3_CACHE)/firmware.elf
