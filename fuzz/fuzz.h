/* fuzz.h - one source per libFuzzer target. Built with -DCS_FUZZ=ON each
 * fuzz_*.c becomes a libFuzzer binary; in the test build (CS_FUZZ_REPLAY) the
 * same function is registered and tests/fuzz_replay.c replays its seed corpus
 * (fuzz/corpus/NAME/ and the shared-corpus files listed in fuzz/seeds/NAME.txt)
 * plus generated mutations as ordinary tests. */
#ifndef CS_FUZZ_H
#define CS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "crawlset.h"

typedef int (*cs_fuzz_fn)(const uint8_t *data, size_t size);
void cs_fuzz_register(const char *name, cs_fuzz_fn fn);

#ifdef CS_FUZZ_REPLAY
#define CS_FUZZ_TARGET(name)                                                              \
    static int fuzz_##name(const uint8_t *data, size_t size);                             \
    __attribute__((constructor)) static void reg_fuzz_##name(void)                        \
    {                                                                                     \
        cs_fuzz_register(#name, fuzz_##name);                                             \
    }                                                                                     \
    static int fuzz_##name(const uint8_t *data, size_t size)
#else
#define CS_FUZZ_TARGET(name)                                                              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                         \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

#endif
