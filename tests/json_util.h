/* Reading results.json in tests: a number by key (NaN when absent or not a number), and
 * whether an experiment wrote a non-empty file. */
#ifndef SOMA_TESTS_JSON_UTIL_H
#define SOMA_TESTS_JSON_UTIL_H
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>

static inline double num_(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* out/exp/file exists and is not empty. */
static inline int exp_file_exists_(const char *out, const char *exp, const char *file) {
    char p[1024];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s/%s", out, exp, file);
    return stat(p, &sb) == 0 && sb.st_size > 0;
}
#endif
