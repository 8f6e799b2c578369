/* gen.c - writes N real-sized noisy JPEGs (300-1500 px a side) for
 * bench/image.sh: smooth colour gradients plus per-pixel noise, so they do
 * not compress trivially (about 2-3 bits per pixel at q90, 4:2:0, like
 * photos on the web). Deterministic: image i is the same on every run.
 * Usage: gen DIR N */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <vips/vips.h>

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen DIR N\n");
        return 2;
    }
    if (VIPS_INIT(argv[0]))
        return 1;
    vips_cache_set_max(0);
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        rng_state = 0x9E3779B97F4A7C15ull ^ ((uint64_t)(i + 1) * 0x100000001B3ull);
        for (int k = 0; k < 4; k++)
            rnd();
        int w = 300 + (int)(rnd() % 1201), h = 300 + (int)(rnd() % 1201);
        uint8_t *px = malloc((size_t)w * h * 3);
        if (!px)
            return 1;
        double fx[3], fy[3], ph[3];
        for (int c = 0; c < 3; c++) {
            fx[c] = (rnd() % 1000) / 1000.0 * 12.0 / w;
            fy[c] = (rnd() % 1000) / 1000.0 * 12.0 / h;
            ph[c] = (rnd() % 628) / 100.0;
        }
        int amp = 4 + (int)(rnd() % 9); /* noise amplitude, +-amp */
        float *sx = malloc(sizeof(float) * 3 * w), *cy = malloc(sizeof(float) * 3 * h);
        if (!sx || !cy)
            return 1;
        for (int c = 0; c < 3; c++) {
            for (int x = 0; x < w; x++)
                sx[c * w + x] = (float)(90 * sin(fx[c] * x * 6.283 + ph[c]));
            for (int y = 0; y < h; y++)
                cy[c * h + y] = (float)cos(fy[c] * y * 6.283);
        }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) {
                    int v = 128 + (int)(sx[c * w + x] * cy[c * h + y]);
                    v += (int)(rnd() % (2 * amp + 1)) - amp;
                    px[((size_t)y * w + x) * 3 + c] = v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
                }
        free(sx);
        free(cy);
        VipsImage *im = vips_image_new_from_memory(px, (size_t)w * h * 3, w, h, 3, VIPS_FORMAT_UCHAR);
        char path[4096];
        snprintf(path, sizeof path, "%s/%05d.jpg", argv[1], i);
        if (!im || vips_jpegsave(im, path, "Q", 90, "subsample_mode", VIPS_FOREIGN_SUBSAMPLE_ON,
                                 NULL)) {
            fprintf(stderr, "gen: %s: %s\n", path, vips_error_buffer());
            return 1;
        }
        g_object_unref(im);
        free(px);
    }
    vips_shutdown();
    return 0;
}
