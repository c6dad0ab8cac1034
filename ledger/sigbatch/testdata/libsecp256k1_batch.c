/* Experiment (removed in the next commit): libsecp256k1's internal
 * ecmult_multi as a batch verifier, for comparison with package sigbatch.
 * Full pipeline per signature (parse, decompress R, invert S, scalars,
 * Pippenger/Strauss MSM over 2n+1 points with the G term) against one
 * secp256k1_ecdsa_recover, both in one process, CPU time.
 *
 *   S=$(go env GOMODCACHE)/github.com/ethereum/go-ethereum@v1.17.10/crypto/secp256k1/libsecp256k1
 *   gcc -O2 -I$S -I$S/src -I$S/include -o /tmp/bv libsecp256k1_batch.c && /tmp/bv
 */
#define NDEBUG
#include "src/secp256k1.c"
#include "src/modules/recovery/main_impl.h"
#include "src/precomputed_ecmult.c"
#include "src/precomputed_ecmult_gen.c"
#include <time.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct { secp256k1_scalar *sc; secp256k1_ge *pt; } cbdata;
static int cb(secp256k1_scalar *sc, secp256k1_ge *pt, size_t idx, void *data) {
  cbdata *d = data; *sc = d->sc[idx]; *pt = d->pt[idx]; return 1;
}
static double now(void){struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9;}

/* batch verify: returns 1 if all valid */
static int batch(secp256k1_scratch *scr, int n, unsigned char (*dig)[32], unsigned char (*sig)[65], unsigned char (*pub)[65], unsigned char (*coef)[16]) {
  secp256k1_scalar *sc = malloc(sizeof(secp256k1_scalar)*2*n);
  secp256k1_ge *pt = malloc(sizeof(secp256k1_ge)*2*n);
  secp256k1_scalar g, t, z, r, s, a; int i, ok = 1, of;
  secp256k1_scalar_set_int(&g, 0);
  for (i = 0; i < n; i++) {
    secp256k1_fe x, y; unsigned char ab[32] = {0};
    secp256k1_scalar_set_b32(&r, sig[i], &of); if (of || secp256k1_scalar_is_zero(&r)) ok = 0;
    secp256k1_scalar_set_b32(&s, sig[i]+32, &of); if (of || secp256k1_scalar_is_zero(&s)) ok = 0;
    secp256k1_scalar_set_b32(&z, dig[i], &of);
    memcpy(ab+16, coef[i], 16); secp256k1_scalar_set_b32(&a, ab, &of);
    secp256k1_scalar_inverse_var(&s, &s);
    secp256k1_scalar_mul(&t, &z, &s); secp256k1_scalar_mul(&t, &t, &a); secp256k1_scalar_add(&g, &g, &t);
    secp256k1_scalar_mul(&t, &r, &s); secp256k1_scalar_mul(&sc[i], &t, &a);
    secp256k1_scalar_negate(&sc[n+i], &a);
    if (!secp256k1_fe_set_b32_limit(&x, pub[i]+1) || !secp256k1_fe_set_b32_limit(&y, pub[i]+33)) ok = 0;
    secp256k1_ge_set_xy(&pt[i], &x, &y); if (!secp256k1_ge_is_valid_var(&pt[i])) ok = 0;
    secp256k1_fe_set_b32_mod(&x, sig[i]);
    if (!secp256k1_ge_set_xo_var(&pt[n+i], &x, sig[i][64] & 1)) ok = 0;
  }
  secp256k1_gej res; cbdata d = {sc, pt};
  if (!secp256k1_ecmult_multi_var(&default_error_callback, scr, &res, &g, cb, &d, 2*n)) ok = 0;
  if (!secp256k1_gej_is_infinity(&res)) ok = 0;
  free(sc); free(pt);
  return ok;
}

int main(int argc, char **argv) {
  int ns[] = {1, 16, 256, 1024, 4096}; int N = 4096;
  secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  unsigned char (*dig)[32] = malloc(32*N), (*sig)[65] = malloc(65*N), (*pub)[65] = malloc(65*N), (*coef)[16] = malloc(16*N);
  for (int i = 0; i < N; i++) {
    unsigned char sk[32] = {0}; sk[0]=1; sk[28]=i>>8; sk[29]=i; sk[31]=7;
    for (int j = 0; j < 32; j++) dig[i][j] = (unsigned char)(i*31+j*7+ (j*j*i));
    for (int j = 0; j < 16; j++) coef[i][j] = (unsigned char)(i*13+j*101+1);
    secp256k1_ecdsa_recoverable_signature rs; int rid;
    secp256k1_ecdsa_sign_recoverable(ctx, &rs, dig[i], sk, NULL, NULL);
    secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig[i], &rid, &rs); sig[i][64]=rid;
    secp256k1_pubkey pk; secp256k1_ec_pubkey_create(ctx, &pk, sk); size_t l = 65;
    secp256k1_ec_pubkey_serialize(ctx, pub[i], &l, &pk, SECP256K1_EC_UNCOMPRESSED);
  }
  secp256k1_scratch *scr = secp256k1_scratch_space_create(ctx, 64<<20);
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now(); int iters = 2000;
    for (int k = 0; k < iters; k++) {
      secp256k1_ecdsa_recoverable_signature rs; secp256k1_pubkey pk;
      secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, sig[k%N], sig[k%N][64]);
      if (!secp256k1_ecdsa_recover(ctx, &pk, &rs, dig[k%N])) abort();
    }
    printf("recover: %.2f us\n", (now()-t0)/iters*1e6);
    for (int q = 0; q < 5; q++) {
      int n = ns[q]; int reps = 20000/n + 2; double t1 = now();
      for (int k = 0; k < reps; k++) if (!batch(scr, n, dig, sig, pub, coef)) { printf("FAIL n=%d\n", n); abort(); }
      printf("batch n=%d: %.2f us/sig\n", n, (now()-t1)/reps/n*1e6);
    }
  }
  return 0;
}
