# ulearn_native as a firmware user C module (make USER_C_MODULES=<folder holding native/>).
ULEARN_NATIVE_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(ULEARN_NATIVE_DIR)/ulearn_native.c $(ULEARN_NATIVE_DIR)/ulearn_kernel.c
CFLAGS_USERMOD += -I$(ULEARN_NATIVE_DIR)
