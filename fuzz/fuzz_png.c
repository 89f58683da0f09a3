/* libFuzzer target: PNG decoding from memory with each channel conversion. Images whose
 * header announces more than 2^22 pixels are skipped here (the library accepts up to 2^28,
 * which a tiny, highly compressed input can legitimately announce; that would only measure
 * the fuzzer's memory limit). */
#include <stddef.h>
#include <stdint.h>

#include "soma/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 24) {
        uint64_t w = ((uint64_t)data[16] << 24) | ((uint64_t)data[17] << 16) | ((uint64_t)data[18] << 8) | data[19];
        uint64_t h = ((uint64_t)data[20] << 24) | ((uint64_t)data[21] << 16) | ((uint64_t)data[22] << 8) | data[23];
        if (w * h > ((uint64_t)1 << 22)) return 0;
    }
    static const int want[4] = {0, 1, 3, 4};
    for (int k = 0; k < 4; k++) {
        uint8_t *pix = NULL;
        int w, h, ch = want[k];
        if (soma_png_parse(data, size, &pix, &w, &h, &ch) == SOMA_OK) soma_free(pix);
        else break; /* a bad file is bad for every conversion */
    }
    return 0;
}
