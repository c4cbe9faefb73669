/* STREAM-style copy, add and triad over float arrays: the reference the harness's streams are
 * compared with (benchmarks/stream_vs_c.py).
 *
 *   copy  c[i] = a[i]             2 arrays x elements x sizeof(float) per pass
 *   add   c[i] = a[i] + b[i]      3 arrays
 *   triad a[i] = b[i] + q*c[i]    3 arrays (the harness's argument order)
 *
 * Build: gcc -O3 -march=native -fopenmp stream.c -o stream
 * Run:   OMP_NUM_THREADS=<t> ./stream <copy|add|triad> <elements> <repeats>
 * Prints one line per repeat: seconds of that pass (wall clock, CLOCK_MONOTONIC).
 * Also built as a shared library (-shared -fPIC -DSTREAM_LIBRARY_ONLY) so the same loops run on
 * the harness's own tensors, alternating pass by pass with the harness's step.
 * Bytes follow STREAM: bytes read + bytes written, no write-allocate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The timed loops, shared by the program and the library. */
void stream_copy(float *restrict c, const float *restrict a, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        c[i] = a[i];
}

void stream_add(float *restrict c, const float *restrict a, const float *restrict b, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        c[i] = a[i] + b[i];
}

void stream_triad(float *restrict a, const float *restrict b, const float *restrict c, long n, float q) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        a[i] = b[i] + q * c[i];
}

#ifndef STREAM_LIBRARY_ONLY
static float *array(long n) {
    /* 2 MiB alignment: huge-page friendly, as a large torch allocation is. */
    return aligned_alloc(2097152, ((n * sizeof(float) + 2097151) / 2097152) * 2097152);
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "copy") && strcmp(argv[1], "add") && strcmp(argv[1], "triad"))) {
        fprintf(stderr, "usage: %s <copy|add|triad> <elements> <repeats>\n", argv[0]);
        return 2;
    }
    const char *kernel = argv[1];
    const long n = atol(argv[2]);
    const int repeats = atoi(argv[3]);
    const float q = 0.4f;
    float *a = array(n), *b = array(n), *c = array(n);
    if (!a || !b || !c) {
        fprintf(stderr, "allocation failed\n");
        return 1;
    }
    /* First touch in parallel with the same static schedule as the timed loops. */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        a[i] = 1.0f;
        b[i] = 2.0f;
        c[i] = 0.5f;
    }
    for (int r = 0; r < repeats; r++) {
        double start = now_s();
        if (!strcmp(kernel, "copy"))
            stream_copy(c, a, n);
        else if (!strcmp(kernel, "add"))
            stream_add(c, a, b, n);
        else
            stream_triad(a, b, c, n, q);
        printf("%.9f\n", now_s() - start);
    }
    /* Checksum so the compiler cannot drop the loops. */
    double sum = 0.0;
    for (long i = 0; i < n; i += 4096)
        sum += a[i] + c[i];
    fprintf(stderr, "threads %d checksum %.6f\n", omp_get_max_threads(), sum);
    return 0;
}
#endif
