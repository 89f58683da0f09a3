// GEMM through CBLAS, the reference triple loop, thread control, the CPU and BLAS kernels.
#define _POSIX_C_SOURCE 200809L /* sysconf, strncasecmp */
#include "soma/core.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define SOMA_X86_CPUID 1
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef SOMA_BLAS_NAME
#define SOMA_BLAS_NAME "cblas"
#endif

/* OpenBLAS extensions (declared in its cblas.h; re-declared weakly for other CBLAS builds). */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));

void soma_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (beta == 0.f) {
        /* OpenBLAS clears C in a pass of its own before its kernels add alpha*AB into it, and
         * 0.3.21's pass for Zen/Haswell is a scalar loop: 6.7% of a LeNet step (the conv
         * backward's column buffer). memset clears C several times faster, and with beta = 1
         * OpenBLAS skips its pass and adds the same sums into the same zeros: same bits. */
        if (ldc == N)
            memset(C, 0, (size_t)M * (size_t)N * sizeof *C);
        else
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        beta = 1.f;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void soma_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.f ? 0.0 : (double)beta * *c));
        }
}

void soma_gemv(int ta, int M, int N, float alpha, const float *A, int lda, const float *x,
               float beta, float *y) {
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y,
                1);
}

const char *soma_blas_name(void) { return SOMA_BLAS_NAME; }

const char *soma_blas_config(void) {
    if (openblas_get_config) return openblas_get_config();
    return SOMA_BLAS_NAME;
}

static int threads_ = 0;

#ifndef _OPENMP
extern int omp_get_thread_limit(void) __attribute__((weak));
#endif

/* The most threads the OpenMP runtime grants (0 when there is none in the process). */
static int thread_limit_(void) {
#ifndef _OPENMP
    if (!omp_get_thread_limit) return 0;
#endif
    return omp_get_thread_limit();
}

void soma_set_threads(int n) {
    if (n < 1) n = 1;
    threads_ = n;
    int blas = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    /* OpenBLAS's threads wait for one another: asked for more than OpenMP grants (for example
     * under OMP_THREAD_LIMIT) it spins forever. The OpenMP build of OpenBLAS brings the OpenMP
     * runtime along even when soma itself is built without OpenMP: ask it, where it is. */
    int limit = thread_limit_();
    if (limit > 0 && blas > limit) blas = limit;
    if (openblas_set_num_threads) openblas_set_num_threads(blas);
}

int soma_get_threads(void) {
    if (threads_ > 0) return threads_;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int soma_have_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

// --- machine and BLAS kernels ----------------------------------------------------------

#ifdef SOMA_X86_CPUID
static unsigned long long xgetbv0_(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

void soma_cpu_detect(soma_cpu_info *out) {
    memset(out, 0, sizeof *out);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    out->n_cpus = n > 0 ? (int)n : 1;
#ifdef SOMA_X86_CPUID
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned max_leaf = a;
    memcpy(out->vendor, &b, 4);
    memcpy(out->vendor + 4, &d, 4);
    memcpy(out->vendor + 8, &c, 4);
    __get_cpuid(1, &a, &b, &c, &d);
    int fam = (int)((a >> 8) & 0xf), mod = (int)((a >> 4) & 0xf);
    if (fam == 0xf) fam += (int)((a >> 20) & 0xff);
    if (fam == 0x6 || fam >= 0xf) mod |= (int)((a >> 16) & 0xf) << 4;
    out->family = fam;
    out->model = mod;
    /* The OS must save the registers: YMM (XCR0 bits 1-2) and, for AVX-512, opmask + ZMM (5-7). */
    int osxsave = (c >> 27) & 1;
    unsigned long long xcr0 = osxsave ? xgetbv0_() : 0;
    int os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
    unsigned f = 0;
    if (os_avx && ((c >> 28) & 1)) f |= SOMA_CPU_AVX;
    if (os_avx && ((c >> 12) & 1)) f |= SOMA_CPU_FMA;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (os_avx && ((b >> 5) & 1)) f |= SOMA_CPU_AVX2;
        if (os_avx512) {
            if ((b >> 16) & 1) f |= SOMA_CPU_AVX512F;
            if ((b >> 17) & 1) f |= SOMA_CPU_AVX512DQ;
            if ((b >> 30) & 1) f |= SOMA_CPU_AVX512BW;
            if ((b >> 31) & 1) f |= SOMA_CPU_AVX512VL;
        }
    }
    out->features = f;
    __get_cpuid(0x80000000, &a, &b, &c, &d);
    if (a >= 0x80000004) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002 + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        char brand[49];
        memcpy(brand, r, 48);
        brand[48] = 0;
        const char *p = brand;
        while (*p == ' ') p++;
        snprintf(out->model_name, sizeof out->model_name, "%s", p);
        for (size_t k = strlen(out->model_name); k > 0 && out->model_name[k - 1] == ' '; k--)
            out->model_name[k - 1] = 0;
    }
#endif
}

int soma_cpu_level(unsigned f) {
    const unsigned l3 = SOMA_CPU_AVX512F | SOMA_CPU_AVX512BW | SOMA_CPU_AVX512VL | SOMA_CPU_AVX512DQ;
    const unsigned l2 = SOMA_CPU_AVX2 | SOMA_CPU_FMA | SOMA_CPU_AVX;
    if ((f & l2) != l2) return (f & SOMA_CPU_AVX) ? 1 : 0;
    return (f & l3) == l3 ? 3 : 2;
}

/* OpenBLAS 0.3.x x86-64 core names (DYNAMIC_ARCH) by the widest vectors their kernels use. */
static const struct {
    const char *name;
    int level;
} blas_cores_[] = {
    {"Katmai", 0},      {"Coppermine", 0},  {"Northwood", 0},   {"Prescott", 0},
    {"Banias", 0},      {"Core2", 0},       {"Penryn", 0},      {"Dunnington", 0},
    {"Nehalem", 0},     {"Atom", 0},        {"Nano", 0},        {"Athlon", 0},
    {"Opteron", 0},     {"Opteron_SSE3", 0}, {"Barcelona", 0},  {"Bobcat", 0},
    {"Sandybridge", 1}, {"Bulldozer", 1},   {"Piledriver", 1},  {"Steamroller", 1},
    {"Excavator", 1},   {"Haswell", 2},     {"Zen", 2},         {"SkylakeX", 3},
    {"Cooperlake", 3},  {"SapphireRapids", 3},
};

int soma_blas_core_level(const char *core) {
    if (!core) return -1;
    for (size_t i = 0; i < sizeof blas_cores_ / sizeof *blas_cores_; i++)
        if (strcasecmp(core, blas_cores_[i].name) == 0) return blas_cores_[i].level;
    return -1;
}

const char *soma_blas_core_pick(const soma_cpu_info *cpu, const char *current) {
    int have = soma_blas_core_level(current);
    if (have < 0 || !cpu) return NULL;
    int amd = strcmp(cpu->vendor, "AuthenticAMD") == 0 || strcmp(cpu->vendor, "HygonGenuine") == 0;
    const char *best;
    switch (soma_cpu_level(cpu->features)) {
    case 3: best = amd && cpu->family == 25 ? "Zen" : "SkylakeX"; break;
    case 2: best = amd ? "Zen" : "Haswell"; break;
    case 1: best = "Sandybridge"; break;
    default: return NULL; /* SSE only: whatever OpenBLAS picked is as good as we can tell */
    }
    return soma_blas_core_level(best) == have ? NULL : best;
}

const char *soma_blas_core(void) {
    const char *c = openblas_get_corename ? openblas_get_corename() : NULL;
    return c ? c : "";
}

const char *soma_blas_core_advice(void) {
    const char *env = getenv("OPENBLAS_CORETYPE");
    if (env && *env) return NULL;
    /* Only an OpenBLAS built with every kernel set (DYNAMIC_ARCH, as Debian's) can switch. */
    if (!openblas_get_config || !strstr(openblas_get_config(), "DYNAMIC_ARCH")) return NULL;
    soma_cpu_info cpu;
    soma_cpu_detect(&cpu);
    return soma_blas_core_pick(&cpu, soma_blas_core());
}

void soma_blas_info_get(soma_blas_info *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", soma_blas_name());
    snprintf(out->config, sizeof out->config, "%s", soma_blas_config());
    snprintf(out->core, sizeof out->core, "%s", soma_blas_core());
    const char *env = getenv("OPENBLAS_CORETYPE"), *was = getenv("SOMA_BLAS_CORE_WAS");
    const char *src = !out->core[0] ? "" : !(env && *env) ? "openblas" : was && *was ? "soma" : "user";
    snprintf(out->core_source, sizeof out->core_source, "%s", src);
    snprintf(out->core_auto, sizeof out->core_auto, "%s", strcmp(src, "soma") == 0 ? was : out->core);
    soma_cpu_info cpu;
    soma_cpu_detect(&cpu);
    const char *adv = soma_blas_core_pick(&cpu, out->core);
    snprintf(out->core_advice, sizeof out->core_advice, "%s", adv ? adv : "");
}

int soma_machine_describe(char *buf, size_t cap) {
    static const struct {
        unsigned bit;
        const char *name;
    } flags[] = {{SOMA_CPU_AVX2, "avx2"},         {SOMA_CPU_FMA, "fma"},
                 {SOMA_CPU_AVX512F, "avx512f"},   {SOMA_CPU_AVX512BW, "avx512bw"},
                 {SOMA_CPU_AVX512VL, "avx512vl"}, {SOMA_CPU_AVX512DQ, "avx512dq"}};
    soma_cpu_info cpu;
    soma_blas_info bi;
    soma_cpu_detect(&cpu);
    soma_blas_info_get(&bi);
    char fl[96] = "";
    size_t k = 0;
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++)
        if ((cpu.features & flags[i].bit) && k < sizeof fl)
            k += (size_t)snprintf(fl + k, sizeof fl - k, "%s%s", k ? " " : "", flags[i].name);
    if (!k) snprintf(fl, sizeof fl, "no avx2");
    char core[128] = "";
    if (!bi.core[0])
        snprintf(core, sizeof core, "kernels unknown");
    else if (strcmp(bi.core_source, "soma") == 0)
        snprintf(core, sizeof core, "core %s (set by soma; OpenBLAS picked %s)", bi.core, bi.core_auto);
    else
        snprintf(core, sizeof core, "core %s (%s)%s%s", bi.core,
                 strcmp(bi.core_source, "user") == 0 ? "OPENBLAS_CORETYPE" : "OpenBLAS's pick",
                 bi.core_advice[0] ? "; soma would run " : "", bi.core_advice);
    return snprintf(buf, cap, "%s (%s family %d model %d, %d cpus, %s); BLAS %s %s",
                    cpu.model_name[0] ? cpu.model_name : "unknown CPU",
                    cpu.vendor[0] ? cpu.vendor : "non-x86", cpu.family, cpu.model, cpu.n_cpus, fl,
                    bi.name, core);
}
