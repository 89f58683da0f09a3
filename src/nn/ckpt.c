// Checkpoints: a versioned, checksummed binary of a network's parameters, optimizer state and
// counters, written atomically. Layout (little-endian):
//   "SOMACKPT" u32 version
//   u32 spec_len, spec bytes; input shape: i32 -rank, i32 d[rank] (files before shapes had a
//   rank read as i32 c, h, w: still read, a [D,1,1] or [1,1,D] one as [D])
//   u64 seed; i64 epoch; i64 step; rng: u64 s[4], f64 spare, i32 has_spare
//   u32 n_params; per param: u32 layer, u32 name_len, name, u32 ndim, u32 dims[ndim], f32 values[n]
//   u32 n_layers; per layer its rng: u64 s[4], f64 spare, i32 has_spare (dropout streams)
//   u32 opt_kind (0xFFFFFFFF = none); u64 n_state; f32 state[n_state]
//   version 2 on: u32 n_sections; per section: u32 name_len, name, u64 size, bytes[size]
//                 (named state of learning rules, consolidation, hooks; opaque here)
//   u32 crc32 of every byte before it
// Version 1 files (no sections; opt_kind always written as 0) still load; their optimizer kind
// cannot be checked.
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"
#include "soma/io.h"

#define CKPT_MAGIC "SOMACKPT"
#define CKPT_VERSION 2u
#define CKPT_MAX_SECTIONS 4096
#define CKPT_NO_OPT 0xFFFFFFFFu

static void put_u32_(soma_wbuf *b, uint32_t v) { soma_wbuf_put(b, &v, 4); }
static void put_u64_(soma_wbuf *b, uint64_t v) { soma_wbuf_put(b, &v, 8); }

soma_status soma_ckpt_save(const char *path, soma_net *net, soma_optim *opt, const soma_ckpt_meta *meta) {
    return soma_ckpt_save_ex(path, net, opt, meta, NULL, 0);
}

soma_status soma_ckpt_save_ex(const char *path, soma_net *net, soma_optim *opt, const soma_ckpt_meta *meta,
                              const soma_ckpt_section *sec, int n_sec) {
    if (n_sec < 0 || n_sec > CKPT_MAX_SECTIONS || (n_sec > 0 && !sec))
        return soma_error(SOMA_ERR_ARG, "checkpoint %s: %d sections (0..%d)", path, n_sec, CKPT_MAX_SECTIONS);
    for (int i = 0; i < n_sec; i++) {
        const char *nul = memchr(sec[i].name, '\0', SOMA_CKPT_SECTION_NAME);
        size_t len = nul ? (size_t)(nul - sec[i].name) : SOMA_CKPT_SECTION_NAME;
        if (len == 0 || len >= SOMA_CKPT_SECTION_NAME || (sec[i].size && !sec[i].data))
            return soma_error(SOMA_ERR_ARG, "checkpoint %s: section %d has an empty or overlong name, or no data",
                              path, i);
        for (int j = 0; j < i; j++)
            if (strcmp(sec[i].name, sec[j].name) == 0)
                return soma_error(SOMA_ERR_ARG, "checkpoint %s: two sections named '%s'", path, sec[i].name);
    }
    soma_wbuf b = {0};
    soma_wbuf_put(&b, CKPT_MAGIC, 8);
    put_u32_(&b, CKPT_VERSION);
    const char *spec = soma_net_spec(net);
    put_u32_(&b, (uint32_t)strlen(spec));
    soma_wbuf_put(&b, spec, strlen(spec));
    soma_shape in = soma_net_in_shape(net);
    int32_t shp[1 + SOMA_SHAPE_RANK] = {-in.rank};
    for (int i = 0; i < in.rank; i++) shp[1 + i] = in.d[i];
    soma_wbuf_put(&b, shp, (size_t)(1 + in.rank) * sizeof *shp);
    soma_ckpt_meta m = {0};
    if (meta) m = *meta;
    put_u64_(&b, m.seed);
    int64_t ep = m.epoch, stp = m.step;
    soma_wbuf_put(&b, &ep, 8);
    soma_wbuf_put(&b, &stp, 8);
    soma_wbuf_put(&b, m.data_rng.s, sizeof m.data_rng.s);
    soma_wbuf_put(&b, &m.data_rng.spare, 8);
    int32_t hs = m.data_rng.has_spare;
    soma_wbuf_put(&b, &hs, 4);
    int np = soma_net_n_params(net);
    put_u32_(&b, (uint32_t)np);
    for (int k = 0; k < np; k++) {
        soma_param *p = soma_net_param(net, k);
        put_u32_(&b, (uint32_t)soma_net_param_layer(net, k));
        put_u32_(&b, (uint32_t)strlen(p->name));
        soma_wbuf_put(&b, p->name, strlen(p->name));
        put_u32_(&b, (uint32_t)p->ndim);
        for (int d = 0; d < p->ndim; d++) put_u32_(&b, (uint32_t)p->dims[d]);
        soma_wbuf_put(&b, p->value, p->n * sizeof(float));
    }
    int nl = soma_net_n_layers(net);
    put_u32_(&b, (uint32_t)nl);
    for (int i = 0; i < nl; i++) {
        soma_rng *lr = &soma_net_layer(net, i)->rng;
        int32_t lhs = lr->has_spare;
        soma_wbuf_put(&b, lr->s, sizeof lr->s);
        soma_wbuf_put(&b, &lr->spare, 8);
        soma_wbuf_put(&b, &lhs, 4);
    }
    if (opt) {
        size_t ns;
        float *st = soma_optim_state(opt, &ns);
        put_u32_(&b, (uint32_t)soma_optim_get_kind(opt));
        put_u64_(&b, ns);
        soma_wbuf_put(&b, st, ns * sizeof(float));
    } else {
        put_u32_(&b, CKPT_NO_OPT);
        put_u64_(&b, 0);
    }
    put_u32_(&b, (uint32_t)n_sec);
    for (int i = 0; i < n_sec; i++) {
        uint32_t len = (uint32_t)strlen(sec[i].name);
        put_u32_(&b, len);
        soma_wbuf_put(&b, sec[i].name, len);
        put_u64_(&b, (uint64_t)sec[i].size);
        if (sec[i].size) soma_wbuf_put(&b, sec[i].data, sec[i].size);
    }
    if (b.oom) {
        soma_free(b.p);
        return soma_error(SOMA_ERR_NOMEM, "checkpoint %s: out of memory", path);
    }
    put_u32_(&b, soma_crc32(0, b.p, b.n));
    soma_status st = b.oom ? SOMA_ERR_NOMEM : soma_file_write_atomic(path, b.p, b.n);
    soma_free(b.p);
    if (st != SOMA_OK) return soma_error_wrap(st, "checkpoint %s", path);
    return SOMA_OK;
}

static int get_u32_(soma_rbuf *r, uint32_t *v) { return soma_rbuf_get(r, v, 4); }

#define NEED(cond, ...)                                            \
    do {                                                           \
        if (!(cond)) return soma_error(SOMA_ERR_FORMAT, __VA_ARGS__); \
    } while (0)

/* Validates and parses the header: magic, version, CRC, spec and shape. */
static soma_status header_(soma_rbuf *r, char *spec, size_t cap, soma_shape *in, uint32_t *version) {
    NEED(r->n >= 8 + 4 + 4, "checkpoint: file of %zu bytes is truncated", r->n);
    NEED(memcmp(r->p, CKPT_MAGIC, 8) == 0, "checkpoint: bad magic (not a soma checkpoint)");
    uint32_t crc;
    memcpy(&crc, r->p + r->n - 4, 4);
    NEED(soma_crc32(0, r->p, r->n - 4) == crc, "checkpoint: checksum mismatch (corrupt or truncated file)");
    r->n -= 4;
    r->off = 8;
    uint32_t ver = 0, len = 0;
    get_u32_(r, &ver);
    NEED(ver >= 1 && ver <= CKPT_VERSION, "checkpoint: version %u, this soma reads versions 1..%u", ver,
         CKPT_VERSION);
    if (version) *version = ver;
    NEED(get_u32_(r, &len) && len < 65536 && len <= r->n - r->off, "checkpoint: bad spec length");
    char tmp[65536];
    soma_rbuf_get(r, tmp, len);
    tmp[len] = '\0';
    if (spec) {
        NEED(len < cap, "checkpoint: spec of %u bytes does not fit", len);
        memcpy(spec, tmp, (size_t)len + 1);
    }
    int32_t shp[1 + SOMA_SHAPE_RANK] = {0};
    NEED(soma_rbuf_get(r, shp, sizeof *shp), "checkpoint: truncated header");
    soma_shape s = {0};
    if (shp[0] < 0) {
        NEED(shp[0] >= -SOMA_SHAPE_RANK, "checkpoint: bad input rank %d", -shp[0]);
        s.rank = -shp[0];
        NEED(soma_rbuf_get(r, shp + 1, (size_t)s.rank * sizeof *shp), "checkpoint: truncated header");
        for (int i = 0; i < s.rank; i++) s.d[i] = shp[1 + i];
    } else { /* before ranked shapes: c, h, w */
        NEED(soma_rbuf_get(r, shp + 1, 2 * sizeof *shp), "checkpoint: truncated header");
        if (shp[1] == 1 && shp[2] == 1) s = soma_shape1(shp[0]);
        else if (shp[0] == 1 && shp[1] == 1) s = soma_shape1(shp[2]);
        else s = soma_shape3(shp[0], shp[1], shp[2]);
    }
    NEED(soma_shape_ok(s), "checkpoint: bad input shape");
    if (in) *in = s;
    return SOMA_OK;
}

void soma_ckpt_sections_free(soma_ckpt_section *sec, int n) {
    if (!sec) return;
    for (int i = 0; i < n; i++) soma_free(sec[i].data);
    soma_free(sec);
}

const soma_ckpt_section *soma_ckpt_section_find(const soma_ckpt_section *sec, int n, const char *name) {
    for (int i = 0; sec && name && i < n; i++)
        if (strcmp(sec[i].name, name) == 0) return &sec[i];
    return NULL;
}

/* The sections after the optimizer state (version 2 on): checked in full, then copied out when
 * out != NULL. */
static soma_status sections_(soma_rbuf *r, soma_ckpt_section **out, int *n_out) {
    uint32_t ns;
    NEED(get_u32_(r, &ns) && ns <= CKPT_MAX_SECTIONS, "checkpoint: bad section count");
    size_t start = r->off;
    for (uint32_t i = 0; i < ns; i++) {
        uint32_t len;
        uint64_t size;
        NEED(get_u32_(r, &len) && len > 0 && len < SOMA_CKPT_SECTION_NAME && len <= r->n - r->off,
             "checkpoint: section %u has a bad name", i);
        const char *name = (const char *)r->p + r->off;
        NEED(memchr(name, '\0', len) == NULL, "checkpoint: section %u has a bad name", i);
        r->off += len;
        NEED(soma_rbuf_get(r, &size, 8) && size <= r->n - r->off, "checkpoint: section %.*s truncated", (int)len, name);
        r->off += (size_t)size;
    }
    NEED(r->off == r->n, "checkpoint: %zu unexpected trailing bytes", r->n - r->off);
    if (!out) return SOMA_OK;
    soma_ckpt_section *s = soma_calloc(ns ? ns : 1, sizeof *s);
    if (!s) return SOMA_ERR_NOMEM;
    r->off = start;
    for (uint32_t i = 0; i < ns; i++) {
        uint32_t len = 0;
        uint64_t size = 0;
        get_u32_(r, &len);
        memcpy(s[i].name, r->p + r->off, len);
        s[i].name[len] = '\0';
        r->off += len;
        soma_rbuf_get(r, &size, 8);
        s[i].size = (size_t)size;
        s[i].data = soma_alloc(size ? (size_t)size : 1, 1);
        if (!s[i].data) {
            soma_ckpt_sections_free(s, (int)ns);
            return SOMA_ERR_NOMEM;
        }
        memcpy(s[i].data, r->p + r->off, (size_t)size);
        r->off += (size_t)size;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(s[j].name, s[i].name) == 0) {
                soma_ckpt_sections_free(s, (int)ns);
                return soma_error(SOMA_ERR_FORMAT, "checkpoint: two sections named '%s'", s[i].name);
            }
    }
    *out = s;
    *n_out = (int)ns;
    return SOMA_OK;
}

soma_status soma_ckpt_load_mem(const void *buf, size_t n, soma_net *net, soma_optim *opt, soma_ckpt_meta *meta) {
    return soma_ckpt_load_mem_ex(buf, n, net, opt, meta, NULL, NULL);
}

soma_status soma_ckpt_load_mem_ex(const void *buf, size_t n, soma_net *net, soma_optim *opt, soma_ckpt_meta *meta,
                                  soma_ckpt_section **sec, int *n_sec) {
    if (sec) *sec = NULL;
    if (n_sec) *n_sec = 0;
    soma_rbuf r = {.p = buf, .n = n};
    char spec[4096];
    soma_shape in;
    uint32_t version = 0;
    SOMA_TRY(header_(&r, spec, sizeof spec, &in, &version));
    soma_shape nin = soma_net_in_shape(net);
    if (strcmp(spec, soma_net_spec(net)) != 0)
        return soma_error(SOMA_ERR_SHAPE, "checkpoint: saved for net '%s', not '%s'", spec, soma_net_spec(net));
    if (!soma_shape_eq(in, nin))
        return soma_error(SOMA_ERR_SHAPE, "checkpoint: saved for input %s, net takes %s",
                          SOMA__SHAPE_STR(in), SOMA__SHAPE_STR(nin));
    soma_ckpt_meta m;
    memset(&m, 0, sizeof m);
    int64_t ep, stp;
    int32_t hs;
    NEED(soma_rbuf_get(&r, &m.seed, 8) && soma_rbuf_get(&r, &ep, 8) && soma_rbuf_get(&r, &stp, 8) && soma_rbuf_get(&r, m.data_rng.s, 32) &&
             soma_rbuf_get(&r, &m.data_rng.spare, 8) && soma_rbuf_get(&r, &hs, 4),
         "checkpoint: truncated counters");
    m.epoch = (long)ep;
    m.step = (long)stp;
    m.data_rng.has_spare = hs != 0;
    uint32_t np;
    NEED(get_u32_(&r, &np), "checkpoint: truncated");
    if ((int)np != soma_net_n_params(net))
        return soma_error(SOMA_ERR_SHAPE, "checkpoint: %u parameters, net has %d", np, soma_net_n_params(net));
    /* Parse everything into a staging pass first, so a bad file leaves the net untouched. */
    size_t start = r.off;
    for (int pass = 0; pass < 2; pass++) {
        r.off = start;
        for (uint32_t k = 0; k < np; k++) {
            soma_param *p = soma_net_param(net, (int)k);
            uint32_t layer, nl, nd, dim;
            char name[SOMA_PARAM_NAME];
            NEED(get_u32_(&r, &layer) && get_u32_(&r, &nl), "checkpoint: truncated parameter %u", k);
            NEED(nl < sizeof name && soma_rbuf_get(&r, name, nl), "checkpoint: bad name of parameter %u", k);
            name[nl] = '\0';
            if ((int)layer != soma_net_param_layer(net, (int)k) || strcmp(name, p->name) != 0)
                return soma_error(SOMA_ERR_SHAPE, "checkpoint: parameter %u is %u.%s, net has %d.%s", k,
                                  layer, name, soma_net_param_layer(net, (int)k), p->name);
            NEED(get_u32_(&r, &nd) && nd == (uint32_t)p->ndim, "checkpoint: parameter %u.%s: wrong rank", layer, name);
            for (uint32_t d = 0; d < nd; d++) {
                NEED(get_u32_(&r, &dim), "checkpoint: truncated");
                if (dim != (uint32_t)p->dims[d])
                    return soma_error(SOMA_ERR_SHAPE, "checkpoint: parameter %u.%s dim %u is %u, net has %d",
                                      layer, name, d, dim, p->dims[d]);
            }
            NEED(p->n * sizeof(float) <= r.n - r.off, "checkpoint: parameter %u.%s truncated", layer, name);
            if (pass == 1) memcpy(p->value, r.p + r.off, p->n * sizeof(float));
            r.off += p->n * sizeof(float);
        }
        uint32_t nl;
        NEED(get_u32_(&r, &nl), "checkpoint: truncated layer streams");
        if ((int)nl != soma_net_n_layers(net))
            return soma_error(SOMA_ERR_SHAPE, "checkpoint: %u layers, net has %d", nl, soma_net_n_layers(net));
        for (uint32_t i = 0; i < nl; i++) {
            soma_rng lr;
            int32_t lhs;
            NEED(soma_rbuf_get(&r, lr.s, 32) && soma_rbuf_get(&r, &lr.spare, 8) && soma_rbuf_get(&r, &lhs, 4),
                 "checkpoint: truncated layer streams");
            lr.has_spare = lhs != 0;
            if (pass == 1) soma_net_layer(net, (int)i)->rng = lr;
        }
        uint32_t kind;
        uint64_t ns;
        NEED(get_u32_(&r, &kind) && soma_rbuf_get(&r, &ns, 8), "checkpoint: truncated optimizer state");
        if (kind != CKPT_NO_OPT && opt) {
            soma_optim_kind want = soma_optim_get_kind(opt);
            /* Version 1 wrote 0 whatever the kind: nothing to check there. */
            if (version >= 2 && kind != (uint32_t)want)
                return soma_error(SOMA_ERR_SHAPE,
                                  "checkpoint: optimizer state is %s's, the optimizer is %s; HINT: resume "
                                  "with the optimizer it was saved with (%s)",
                                  soma_optim_name((soma_optim_kind)kind), soma_optim_name(want),
                                  soma_optim_name((soma_optim_kind)kind));
            NEED(ns <= (r.n - r.off) / sizeof(float), "checkpoint: optimizer state truncated");
            if (version == 1) {
                /* alignment of r.p + r.off is not guaranteed: stage through a copy */
                float *tmp = soma_alloc(ns ? (size_t)ns : 1, sizeof(float));
                if (!tmp) return SOMA_ERR_NOMEM;
                memcpy(tmp, r.p + r.off, (size_t)ns * sizeof(float));
                soma_status st = soma__optim_state_from_flat(opt, tmp, (size_t)ns, pass == 1);
                soma_free(tmp);
                SOMA_TRY(st);
            } else {
                size_t have;
                float *st = soma_optim_state(opt, &have);
                if (ns != have)
                    return soma_error(SOMA_ERR_SHAPE,
                                      "checkpoint: optimizer state of %llu values, optimizer has %zu",
                                      (unsigned long long)ns, have);
                if (pass == 1) memcpy(st, r.p + r.off, ns * sizeof(float));
            }
        } else {
            NEED(ns <= (r.n - r.off) / sizeof(float), "checkpoint: optimizer state truncated");
        }
        r.off += ns * sizeof(float);
        if (version >= 2) {
            SOMA_TRY(sections_(&r, pass == 1 ? sec : NULL, n_sec));
        } else {
            NEED(r.off == r.n, "checkpoint: %zu unexpected trailing bytes", r.n - r.off);
        }
    }
    if (opt) soma_optim_set_steps(opt, m.step);
    m.version = (int)version;
    if (meta) *meta = m;
    return SOMA_OK;
}

soma_status soma_ckpt_load(const char *path, soma_net *net, soma_optim *opt, soma_ckpt_meta *meta) {
    return soma_ckpt_load_ex(path, net, opt, meta, NULL, NULL);
}

soma_status soma_ckpt_load_ex(const char *path, soma_net *net, soma_optim *opt, soma_ckpt_meta *meta,
                              soma_ckpt_section **sec, int *n_sec) {
    void *buf;
    size_t n;
    SOMA_TRY(soma_file_read(path, 0, &buf, &n));
    soma_status st = soma_ckpt_load_mem_ex(buf, n, net, opt, meta, sec, n_sec);
    soma_free(buf);
    if (st != SOMA_OK) return soma_error_wrap(st, "%s", path);
    return SOMA_OK;
}

soma_status soma_ckpt_peek(const char *path, char *spec, size_t cap, soma_shape *in) {
    void *buf;
    size_t n;
    SOMA_TRY(soma_file_read(path, 0, &buf, &n));
    soma_rbuf r = {.p = buf, .n = n};
    soma_status st = header_(&r, spec, cap, in, NULL);
    soma_free(buf);
    if (st != SOMA_OK) return soma_error_wrap(st, "%s", path);
    return SOMA_OK;
}

// --- NPY export / import in PyTorch's layouts -------------------------------------------

soma_status soma_net_save_npy(soma_net *net, const char *dir) {
    SOMA_TRY(soma_mkdir_p(dir));
    char path[4096];
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        snprintf(path, sizeof path, "%s/%s.npy", dir, soma_net_param_name(net, k));
        int64_t shape[SOMA_MAX_DIMS];
        for (int d = 0; d < p->ndim; d++) shape[d] = p->dims[d];
        SOMA_TRY(soma_npy_write(path, SOMA_DTYPE_F32, p->ndim, shape, p->value));
    }
    return SOMA_OK;
}

soma_status soma_net_load_npy(soma_net *net, const char *dir) {
    char path[4096];
    int np = soma_net_n_params(net);
    soma_tensor **staged = soma_calloc((size_t)(np ? np : 1), sizeof *staged);
    if (!staged) return SOMA_ERR_NOMEM;
    soma_status st = SOMA_OK;
    /* Read and check every file before changing any parameter. */
    for (int k = 0; k < np && st == SOMA_OK; k++) {
        soma_param *p = soma_net_param(net, k);
        snprintf(path, sizeof path, "%s/%s.npy", dir, soma_net_param_name(net, k));
        soma_array a = {0};
        st = soma_npy_read(path, &a);
        if (st != SOMA_OK) break;
        int ok = a.ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++) ok = a.shape[d] == p->dims[d];
        if (!ok) {
            char want[64] = "", got[64] = "";
            for (int d = 0; d < p->ndim; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? "," : "", p->dims[d]);
            for (int d = 0; d < a.ndim && d < 8; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)a.shape[d]);
            st = soma_error(SOMA_ERR_SHAPE, "npy import: %s has shape [%s], layer '%s' needs [%s]", path,
                            got, soma_net_layer(net, soma_net_param_layer(net, k))->spec, want);
        } else {
            st = soma_array_to_f32(&a, &staged[k]);
        }
        soma_array_deinit(&a);
    }
    if (st == SOMA_OK)
        for (int k = 0; k < np; k++) {
            soma_param *p = soma_net_param(net, k);
            memcpy(p->value, staged[k]->data, p->n * sizeof(float));
        }
    for (int k = 0; k < np; k++) soma_tensor_free(staged[k]);
    soma_free(staged);
    return st;
}
