/* The CPU and BLAS-kernel checks: the core choice as a table (CPUID features x the core
 * OpenBLAS picked -> the core to run), the levels behind it, CPUID against /proc/cpuinfo, and
 * the machine line. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "soma/core.h"

#define F_AVX2 (SOMA_CPU_AVX | SOMA_CPU_AVX2 | SOMA_CPU_FMA)
#define F_AVX512 (F_AVX2 | SOMA_CPU_AVX512F | SOMA_CPU_AVX512BW | SOMA_CPU_AVX512VL | SOMA_CPU_AVX512DQ)

static void test_levels(void) {
    CHECK(soma_cpu_level(0) == 0);
    CHECK(soma_cpu_level(SOMA_CPU_AVX) == 1);
    CHECK(soma_cpu_level(SOMA_CPU_AVX | SOMA_CPU_AVX2) == 1); /* no FMA: not Haswell-class */
    CHECK(soma_cpu_level(F_AVX2) == 2);
    CHECK(soma_cpu_level(F_AVX2 | SOMA_CPU_AVX512F) == 2); /* F alone (Knights Landing) */
    CHECK(soma_cpu_level(F_AVX512 & ~SOMA_CPU_AVX512DQ) == 2);
    CHECK(soma_cpu_level(F_AVX512) == 3);
    CHECK(soma_blas_core_level("Prescott") == 0);
    CHECK(soma_blas_core_level("nehalem") == 0); /* OPENBLAS_CORETYPE ignores case too */
    CHECK(soma_blas_core_level("Sandybridge") == 1);
    CHECK(soma_blas_core_level("Haswell") == 2);
    CHECK(soma_blas_core_level("Zen") == 2);
    CHECK(soma_blas_core_level("SkylakeX") == 3);
    CHECK(soma_blas_core_level("Cooperlake") == 3);
    CHECK(soma_blas_core_level("NEOVERSEN1") == -1);
    CHECK(soma_blas_core_level("") == -1);
    CHECK(soma_blas_core_level(NULL) == -1);
}

static void test_pick_table(void) {
    static const struct {
        const char *vendor;
        int family, model;
        unsigned features;
        const char *current, *want; /* want NULL: keep what runs */
    } t[] = {
        /* the masked Xeon VM: AVX-512, OpenBLAS 0.3.21 falls back to Prescott */
        {"GenuineIntel", 6, 85, F_AVX512, "Prescott", "SkylakeX"},
        {"GenuineIntel", 6, 85, F_AVX512, "Haswell", "SkylakeX"},
        {"GenuineIntel", 6, 85, F_AVX512, "SkylakeX", NULL},
        {"GenuineIntel", 6, 85, F_AVX512, "Cooperlake", NULL},
        {"GenuineIntel", 6, 60, F_AVX2, "Prescott", "Haswell"},
        {"GenuineIntel", 6, 60, F_AVX2, "Haswell", NULL},
        {"GenuineIntel", 6, 60, F_AVX2, "Zen", NULL}, /* same kernels: no restart for it */
        {"GenuineIntel", 6, 42, SOMA_CPU_AVX, "Nehalem", "Sandybridge"},
        {"GenuineIntel", 6, 42, SOMA_CPU_AVX, "Sandybridge", NULL},
        {"GenuineIntel", 6, 23, 0, "Prescott", NULL},
        /* a CPU that cannot run what was picked (a VM hiding AVX-512 from the OS) */
        {"GenuineIntel", 6, 85, F_AVX2, "SkylakeX", "Haswell"},
        /* this machine: Zen 4, OpenBLAS picks Cooperlake; Zen's kernels measured faster */
        {"AuthenticAMD", 25, 17, F_AVX512, "Cooperlake", "Zen"},
        {"AuthenticAMD", 25, 17, F_AVX512, "Prescott", "Zen"},
        {"AuthenticAMD", 25, 17, F_AVX512, "Zen", NULL},
        {"AuthenticAMD", 25, 17, F_AVX512, "Haswell", NULL},
        {"AuthenticAMD", 25, 1, F_AVX2, "Prescott", "Zen"}, /* Zen 3 */
        {"AuthenticAMD", 23, 49, F_AVX2, "Zen", NULL},       /* Zen 2 */
        {"AuthenticAMD", 26, 2, F_AVX512, "Zen", "SkylakeX"}, /* Zen 5: full-width AVX-512 */
        {"HygonGenuine", 24, 0, F_AVX2, "Prescott", "Zen"},
        /* not OpenBLAS, or a core it does not know: not ours to change */
        {"GenuineIntel", 6, 85, F_AVX512, "", NULL},
        {"GenuineIntel", 6, 85, F_AVX512, NULL, NULL},
        {"GenuineIntel", 6, 85, F_AVX512, "Graviton9", NULL},
        {"", 0, 0, 0, "Prescott", NULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        soma_cpu_info c;
        memset(&c, 0, sizeof c);
        snprintf(c.vendor, sizeof c.vendor, "%s", t[i].vendor);
        c.family = t[i].family;
        c.model = t[i].model;
        c.features = t[i].features;
        const char *got = soma_blas_core_pick(&c, t[i].current);
        int ok = (!got && !t[i].want) || (got && t[i].want && strcmp(got, t[i].want) == 0);
        if (!ok)
            fprintf(stderr, "row %zu: %s fam %d features %#x running %s: want %s, got %s\n", i,
                    t[i].vendor, t[i].family, t[i].features, t[i].current ? t[i].current : "(null)",
                    t[i].want ? t[i].want : "(keep)", got ? got : "(keep)");
        CHECK(ok);
    }
    CHECK(soma_blas_core_pick(NULL, "Prescott") == NULL);
}

/* Does /proc/cpuinfo's first "flags" line list `flag` as a whole word? -1: no cpuinfo. */
static int cpuinfo_has_(const char *flag) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    char line[8192];
    int found = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) {
            found = 0;
            for (char *tok = strtok(strchr(line, ':') + 1, " \n"); tok; tok = strtok(NULL, " \n"))
                if (strcmp(tok, flag) == 0) found = 1;
            break;
        }
    fclose(f);
    return found;
}

/* CPUID as soma reads it against the kernel's view of the same CPU (which also requires the
 * OS to save the registers). */
static void test_detect(void) {
    soma_cpu_info c;
    soma_cpu_detect(&c);
    CHECK(c.n_cpus >= 1);
#if defined(__x86_64__)
    CHECK(strlen(c.vendor) == 12);
    CHECK(c.family >= 6);
    static const struct {
        unsigned bit;
        const char *flag;
    } fl[] = {{SOMA_CPU_AVX, "avx"},         {SOMA_CPU_AVX2, "avx2"},
              {SOMA_CPU_FMA, "fma"},         {SOMA_CPU_AVX512F, "avx512f"},
              {SOMA_CPU_AVX512BW, "avx512bw"}, {SOMA_CPU_AVX512VL, "avx512vl"},
              {SOMA_CPU_AVX512DQ, "avx512dq"}};
    for (size_t i = 0; i < sizeof fl / sizeof *fl; i++) {
        int has = cpuinfo_has_(fl[i].flag);
        if (has < 0) break; /* no /proc: nothing to compare with */
        if (has != !!(c.features & fl[i].bit))
            fprintf(stderr, "%s: /proc/cpuinfo says %d, CPUID %d\n", fl[i].flag, has,
                    !!(c.features & fl[i].bit));
        CHECK(has == !!(c.features & fl[i].bit));
    }
#endif
}

/* The machine line names the CPU model, its level's flags and the running core, and the
 * info struct agrees with what OpenBLAS reports. */
static void test_describe(void) {
    soma_cpu_info c;
    soma_cpu_detect(&c);
    soma_blas_info bi;
    soma_blas_info_get(&bi);
    CHECK(strcmp(bi.name, soma_blas_name()) == 0);
    CHECK(strcmp(bi.core, soma_blas_core()) == 0);
    char line[512];
    int n = soma_machine_describe(line, sizeof line);
    CHECK(n > 0 && (size_t)n < sizeof line);
    CHECK(!c.model_name[0] || strstr(line, c.model_name) != NULL);
    CHECK(!bi.core[0] || strstr(line, bi.core) != NULL);
    CHECK(!(c.features & SOMA_CPU_AVX512F) || strstr(line, "avx512f") != NULL);
    char small[16];
    int n2 = soma_machine_describe(small, sizeof small);
    CHECK(n2 == n && strlen(small) == sizeof small - 1);
    /* Run under OPENBLAS_CORETYPE=<its own core> with SOMA_BLAS_CORE_WAS=Prescott, soma
     * reports that it replaced Prescott; under a user's value alone, "user". */
    const char *env = getenv("OPENBLAS_CORETYPE"), *was = getenv("SOMA_BLAS_CORE_WAS");
    if (bi.core[0]) {
        if (env && *env && was && *was) {
            CHECK(strcmp(bi.core_source, "soma") == 0 && strcmp(bi.core_auto, was) == 0);
        } else if (env && *env) {
            CHECK(strcmp(bi.core_source, "user") == 0 && strcmp(bi.core_auto, bi.core) == 0);
        } else {
            CHECK(strcmp(bi.core_source, "openblas") == 0);
        }
    }
}

/* beta = 0 overwrites C whatever it held (NaNs included), inside a larger row stride too,
 * leaving the columns past N alone; K = 0 leaves zeros. soma_gemm clears C itself. */
static void test_gemm_beta0(void) {
    enum { M = 37, N = 23, K = 19, LDC = 29 };
    float A[M * K], B[K * N], C[M * LDC], R[M * LDC];
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    soma_rng_uniform_fill(&r, A, M * K, -1.f, 1.f);
    soma_rng_uniform_fill(&r, B, K * N, -1.f, 1.f);
    for (int ldc = N; ldc <= LDC; ldc += LDC - N) {
        for (int i = 0; i < M * LDC; i++) C[i] = R[i] = (i % 3) ? NAN : 1e30f;
        soma_gemm(0, 0, M, N, K, 0.5f, A, K, B, N, 0.f, C, ldc);
        soma_gemm_ref(0, 0, M, N, K, 0.5f, A, K, B, N, 0.f, R, ldc);
        int outside_kept = 1;
        for (int i = 0; i < M; i++)
            for (int j = N; j < ldc; j++)
                outside_kept &= memcmp(&C[i * ldc + j], &R[i * ldc + j], sizeof(float)) == 0;
        CHECK(outside_kept);
        for (int i = 0; i < M; i++) CHECK_CLOSE("gemm beta=0 over NaN", C + i * ldc, R + i * ldc, N, 1e-5f, 1e-5f);
    }
    for (int i = 0; i < M * N; i++) C[i] = NAN;
    soma_gemm(0, 0, M, N, 0, 1.f, A, 1, B, N, 0.f, C, N);
    int zeros = 1;
    for (int i = 0; i < M * N; i++) zeros &= C[i] == 0.f;
    CHECK(zeros);
}

int main(void) {
    test_gemm_beta0();
    test_levels();
    test_pick_table();
    test_detect();
    test_describe();
    return check_report("test_blas");
}
