/* Vector table, reset handler and semihosting for the QEMU bare-metal harness (mps2-an386). */
#include <stdint.h>

extern uint32_t __bss_start, __bss_end, __stack_top;
int main(void);
void reset_handler(void);

static void halt(void) {
    for (;;) {
    }
}

__attribute__((section(".vectors"), used))
static const void *const vectors[16] = {
    &__stack_top, (const void *)reset_handler, (const void *)halt, (const void *)halt,
    (const void *)halt, (const void *)halt, (const void *)halt, 0, 0, 0, 0,
    (const void *)halt, (const void *)halt, 0, (const void *)halt, (const void *)halt,
};

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_write(const char *s) {
    semihost(0x04, s);   /* SYS_WRITE0 */
}

void sh_exit(int code) {
    uint32_t block[2] = {0x20026, (uint32_t)code};   /* ADP_Stopped_ApplicationExit, status */
    semihost(0x20, block);                           /* SYS_EXIT_EXTENDED */
    halt();
}

void reset_handler(void) {
    for (uint32_t *p = &__bss_start; p < &__bss_end; p++) {
        *p = 0;
    }
    sh_exit(main());
}
