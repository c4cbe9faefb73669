/* STREAM-style triad a[i] = b[i] + q*c[i] over float arrays: the reference the harness's
 * stream triad is compared with (benchmarks/stream_vs_c.py).
 *
 * Build: gcc -O3 -march=native -fopenmp triad.c -o triad
 * Run:   OMP_NUM_THREADS=<t> ./triad <elements> <repeats>
 * Prints one line per repeat: seconds of that triad pass (wall clock, CLOCK_MONOTONIC).
 * Also built as a shared library (-shared -fPIC -DTRIAD_LIBRARY_ONLY) so the same loop can run
 * on the harness's own tensors, alternating pass by pass with the harness's step.
 * Bytes per pass follow STREAM: 3 arrays x elements x sizeof(float), no write-allocate. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <omp.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The timed loop, shared by the program and the library. */
void stream_triad(float *restrict a, const float *restrict b, const float *restrict c, long n, float q) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        a[i] = b[i] + q * c[i];
}

#ifndef TRIAD_LIBRARY_ONLY
int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <elements> <repeats>\n", argv[0]);
        return 2;
    }
    const long n = atol(argv[1]);
    const int repeats = atoi(argv[2]);
    const float q = 0.4f;
    /* 2 MiB alignment: huge-page friendly, as a large torch allocation is. */
    float *a = aligned_alloc(2097152, ((n * sizeof(float) + 2097151) / 2097152) * 2097152);
    float *b = aligned_alloc(2097152, ((n * sizeof(float) + 2097151) / 2097152) * 2097152);
    float *c = aligned_alloc(2097152, ((n * sizeof(float) + 2097151) / 2097152) * 2097152);
    if (!a || !b || !c) {
        fprintf(stderr, "allocation failed\n");
        return 1;
    }
    /* First touch in parallel with the same static schedule as the timed loop. */
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        a[i] = 1.0f;
        b[i] = 2.0f;
        c[i] = 0.5f;
    }
    for (int r = 0; r < repeats; r++) {
        double start = now_s();
        stream_triad(a, b, c, n, q);
        printf("%.9f\n", now_s() - start);
    }
    /* Checksum so the compiler cannot drop the loop; expected a[i] = 2.2. */
    double sum = 0.0;
    for (long i = 0; i < n; i += 4096)
        sum += a[i];
    fprintf(stderr, "threads %d checksum %.6f (expected %.6f)\n", omp_get_max_threads(), sum,
            2.2 * ((n + 4095) / 4096));
    return 0;
}
#endif
