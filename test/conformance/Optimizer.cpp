//===- Optimizer.cpp - conformance cases -------------------------------------===//

#include "Conformance.h"

#include <algorithm>
#include <cmath>
#include <string>

using namespace conformance;

namespace {

/// A call that must fail with `want` (checked after synchronizing, where a
/// device reports data errors).
double sumOfSquares(const std::vector<Tensor> &grads) {
  double sum = 0;
  for (const Tensor &g : grads)
    for (double v : g.values)
      sum += v * v;
  return sum;
}

/// global_norm of `grads`: an f32 scalar, compared with the f64 norm.
void checkGlobalNorm(Case &c, const std::vector<Tensor> &grads) {
  std::vector<ivl_tensor> d;
  for (const Tensor &g : grads)
    d.push_back(c.device(g));
  ivl_tensor norm = c.output(IVL_F32, {});
  if (!c.call(ivl_global_norm(c.context(), d.data(),
                              static_cast<int32_t>(d.size()), &norm)))
    return;
  double want = std::sqrt(sumOfSquares(grads));
  c.expect("norm", norm, {want}, toleranceFor(IVL_F32, want));
}

} // namespace

//===--- global_norm ------------------------------------------------------===//

CONFORMANCE_CASE(global_norm, mixed_dtypes) {
  checkGlobalNorm(c, {c.random(IVL_F32, {13, 33}), c.random(IVL_BF16, {1000}),
                      c.random(IVL_F32, {1}), c.random(IVL_BF16, {7, 3})});
}

CONFORMANCE_CASE(global_norm, one_element) {
  checkGlobalNorm(c, {c.random(IVL_F32, {1}, -3, 3)});
}

CONFORMANCE_CASE(global_norm, with_empty_tensor) {
  checkGlobalNorm(c, {c.random(IVL_BF16, {33}), c.random(IVL_F32, {0, 13}),
                      c.random(IVL_F32, {13})});
}

CONFORMANCE_CASE(global_norm, large_values) {
  // 10^4-sized gradients: squares near 10^8 each, still exact in f64.
  checkGlobalNorm(c, {c.random(IVL_F32, {1000}, -1e4, 1e4)});
}

CONFORMANCE_CASE(global_norm, zero_gradients) {
  checkGlobalNorm(c, {c.filled(IVL_F32, {13}, 0), c.filled(IVL_BF16, {5}, 0)});
}

//===--- clip_scale -------------------------------------------------------===//

namespace {

/// min(1, max_norm / (norm + 1e-6)) for each norm (torch's clip_grad_norm_).
void checkClipScale(Case &c, double maxNorm, std::vector<double> norms) {
  for (double n : norms) {
    Tensor normT = c.filled(IVL_F32, {}, n);
    ivl_tensor d = c.device(normT), scale = c.output(IVL_F32, {});
    if (!c.call(ivl_clip_scale(c.context(), &d, maxNorm, &scale)))
      return;
    double want = std::min(1.0, maxNorm / (normT[0] + 1e-6));
    std::string what = "scale at norm " + std::to_string(n);
    c.expect(what.c_str(), scale, {want}, toleranceFor(IVL_F32, want));
  }
}

} // namespace

CONFORMANCE_CASE(clip_scale, clipped) {
  checkClipScale(c, 1.0, {1.5, 3.0, 1000.0, 123456.0});
}

CONFORMANCE_CASE(clip_scale, not_clipped) {
  checkClipScale(c, 1.0, {0.0, 1e-3, 0.5, 0.999});
}

CONFORMANCE_CASE(clip_scale, at_max_norm) {
  // norm == max_norm: just below 1 (the 1e-6).
  checkClipScale(c, 1.0, {1.0});
  checkClipScale(c, 5.0, {5.0, 4.0, 7.5});
}

CONFORMANCE_CASE(clip_scale, infinite_norm) {
  checkClipScale(c, 1.0, {INFINITY});
}

//===--- adamw / shard_adamw ----------------------------------------------===//

namespace {

struct AdamWSetting {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
  double weightDecay = 0.1;
  double gradScale = 1.0;
  int64_t step = 1;
};

struct AdamWState {
  Tensor master, expAvg, expAvgSq, grad;
};

/// Master in [-1, 1), moments as after some steps (or zero at step 1), the
/// gradient in [-1, 1) of `gradType`.
AdamWState adamwState(Case &c, ivl_dtype gradType, Shape shape,
                      bool freshMoments) {
  AdamWState s;
  s.master = c.random(IVL_F32, shape);
  s.expAvg = freshMoments ? c.filled(IVL_F32, shape, 0)
                          : c.random(IVL_F32, shape, -0.1, 0.1);
  s.expAvgSq = freshMoments ? c.filled(IVL_F32, shape, 0)
                            : c.random(IVL_F32, shape, 0, 0.01);
  s.grad = c.random(gradType, shape);
  return s;
}

/// torch.optim.AdamW's step in f64 (TGOps.td, tg.adamw), element i with
/// weight decay decay[i]; also the largest term of each sum, for the
/// tolerances.
struct AdamWRef {
  std::vector<double> master, expAvg, expAvgSq;
  double masterScale = 0, expAvgScale = 0, expAvgSqScale = 0;
};

AdamWRef adamwRef(const AdamWState &s, const AdamWSetting &o,
                  const std::vector<double> &decay) {
  AdamWRef r;
  double t = static_cast<double>(o.step);
  double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
  double gs = roundTo(IVL_F32, o.gradScale);
  for (int64_t i = 0; i < s.master.size(); ++i) {
    double g = s.grad[i] * gs;
    double p = s.master[i] * (1 - o.lr * decay[i]);
    double m = o.beta1 * s.expAvg[i] + (1 - o.beta1) * g;
    double v = o.beta2 * s.expAvgSq[i] + (1 - o.beta2) * g * g;
    double update = o.lr / bc1 * m / (std::sqrt(v) / std::sqrt(bc2) + o.epsilon);
    r.master.push_back(p - update);
    r.expAvg.push_back(m);
    r.expAvgSq.push_back(v);
    r.masterScale = std::max({r.masterScale, std::fabs(p), std::fabs(update)});
    r.expAvgScale = std::max({r.expAvgScale, std::fabs(o.beta1 * s.expAvg[i]),
                              std::fabs((1 - o.beta1) * g)});
    r.expAvgSqScale = std::max({r.expAvgSqScale, o.beta2 * s.expAvgSq[i],
                                (1 - o.beta2) * g * g});
  }
  return r;
}

/// The four outputs against the reference. new_param is the new master
/// rounded to `paramType` (one rounding of the f32 result).
void expectAdamW(Case &c, const AdamWRef &r, ivl_dtype paramType,
                 const ivl_tensor &master, const ivl_tensor &expAvg,
                 const ivl_tensor &expAvgSq, const ivl_tensor &param) {
  c.expect("new_master", master, r.master,
           toleranceFor(IVL_F32, r.masterScale));
  c.expect("new_exp_avg", expAvg, r.expAvg,
           toleranceFor(IVL_F32, r.expAvgScale));
  c.expect("new_exp_avg_sq", expAvgSq, r.expAvgSq,
           toleranceFor(IVL_F32, r.expAvgSqScale));
  std::vector<double> p = r.master;
  for (double &v : p)
    v = roundTo(paramType, v);
  c.expect("new_param", param, p, toleranceFor(paramType, r.masterScale));
  // And exactly the kernel's own new master, rounded to nearest even.
  Tensor got = c.fetch(master);
  for (double &v : got.values)
    v = roundTo(paramType, v);
  c.expect("new_param == round(new_master)", param, got.values, {0, 0});
}

struct AdamWDevice {
  ivl_tensor master, expAvg, expAvgSq, grad, gradScale, step;
  ivl_tensor newMaster, newExpAvg, newExpAvgSq, newParam;
};

/// Device copies of the state; outputs in their own buffers, or (inPlace)
/// in the storage of the inputs, new_param sharing new_master's (an f32
/// parameter that is its own master).
AdamWDevice adamwDevice(Case &c, const AdamWState &s, const AdamWSetting &o,
                        ivl_dtype paramType, bool inPlace) {
  AdamWDevice d;
  d.master = c.device(s.master);
  d.expAvg = c.device(s.expAvg);
  d.expAvgSq = c.device(s.expAvgSq);
  d.grad = c.device(s.grad);
  d.gradScale = c.device(c.filled(IVL_F32, {}, o.gradScale));
  d.step = c.device(c.filled(IVL_I64, {}, static_cast<double>(o.step)));
  if (inPlace) {
    d.newMaster = d.master;
    d.newExpAvg = d.expAvg;
    d.newExpAvgSq = d.expAvgSq;
    d.newParam = d.master;
  } else {
    d.newMaster = c.output(IVL_F32, s.master.shape);
    d.newExpAvg = c.output(IVL_F32, s.master.shape);
    d.newExpAvgSq = c.output(IVL_F32, s.master.shape);
    d.newParam = c.output(paramType, s.master.shape);
  }
  return d;
}

void checkAdamW(Case &c, ivl_dtype gradType, ivl_dtype paramType, Shape shape,
                const AdamWSetting &o, bool inPlace = false) {
  AdamWState s = adamwState(c, gradType, shape, o.step == 1);
  AdamWDevice d = adamwDevice(c, s, o, paramType, inPlace);
  if (!c.call(ivl_adamw(c.context(), &d.master, &d.expAvg, &d.expAvgSq,
                        &d.grad, &d.gradScale, &d.step, o.lr, o.beta1,
                        o.beta2, o.epsilon, o.weightDecay, &d.newMaster,
                        &d.newExpAvg, &d.newExpAvgSq, &d.newParam)))
    return;
  AdamWRef r = adamwRef(s, o, std::vector<double>(s.master.size(),
                                                  o.weightDecay));
  expectAdamW(c, r, paramType, d.newMaster, d.newExpAvg, d.newExpAvgSq,
              d.newParam);
}

} // namespace

CONFORMANCE_CASE(adamw, f32_step1_decay) {
  AdamWSetting o;
  o.step = 1;
  o.weightDecay = 0.1;
  checkAdamW(c, IVL_F32, IVL_F32, {13, 33}, o);
}

CONFORMANCE_CASE(adamw, bf16_step10_decay_scaled) {
  // Mixed precision: bf16 gradient and parameter, f32 master; a clip scale.
  AdamWSetting o;
  o.step = 10;
  o.weightDecay = 0.05;
  o.gradScale = 0.37;
  checkAdamW(c, IVL_BF16, IVL_BF16, {1000}, o);
}

CONFORMANCE_CASE(adamw, bf16_step10_no_decay) {
  AdamWSetting o;
  o.step = 10;
  o.weightDecay = 0.0;
  o.lr = 2e-4;
  o.beta2 = 0.95;
  checkAdamW(c, IVL_BF16, IVL_BF16, {7, 13}, o);
}

CONFORMANCE_CASE(adamw, f32_in_place_step1_no_decay) {
  // An f32 parameter is its own master: master, new_master and new_param
  // share storage, the moments update in place.
  AdamWSetting o;
  o.step = 1;
  o.weightDecay = 0.0;
  checkAdamW(c, IVL_F32, IVL_F32, {33}, o, true);
}

CONFORMANCE_CASE(adamw, f32_in_place_step10_decay) {
  AdamWSetting o;
  o.step = 10;
  o.weightDecay = 0.1;
  o.gradScale = 0.5;
  checkAdamW(c, IVL_BF16, IVL_F32, {1}, o, true);
}

CONFORMANCE_CASE(adamw, empty) {
  AdamWSetting o;
  checkAdamW(c, IVL_BF16, IVL_BF16, {0, 13}, o);
}

CONFORMANCE_CASE(adamw, step_zero_rejected) {
  AdamWSetting o;
  o.step = 0;
  AdamWState s = adamwState(c, IVL_F32, {5}, true);
  AdamWDevice d = adamwDevice(c, s, o, IVL_F32, false);
  c.expectStatus(
               ivl_adamw(c.context(), &d.master, &d.expAvg, &d.expAvgSq,
                         &d.grad, &d.gradScale, &d.step, o.lr, o.beta1,
                         o.beta2, o.epsilon, o.weightDecay, &d.newMaster,
                         &d.newExpAvg, &d.newExpAvgSq, &d.newParam),
               IVL_ERROR_INVALID_INPUT, "step 0");
}

namespace {

/// shard_adamw at world size 1 (rank 0): the shard is the whole bucket of
/// `segments`, then `padding` zero elements that must stay zero.
void checkShardAdamW(Case &c, ivl_dtype gradType, ivl_dtype paramType,
                     const std::vector<int64_t> &segments,
                     const std::vector<uint8_t> &decay, int64_t padding,
                     const AdamWSetting &o) {
  int64_t bucket = 0;
  for (int64_t n : segments)
    bucket += n;
  int64_t shard = bucket + padding;
  AdamWState s = adamwState(c, gradType, {shard}, o.step == 1);
  for (int64_t i = bucket; i < shard; ++i)
    s.master[i] = s.expAvg[i] = s.expAvgSq[i] = s.grad[i] = 0;
  std::vector<double> decayOf(shard, 0.0);
  int64_t at = 0;
  for (size_t k = 0; k < segments.size(); ++k)
    for (int64_t j = 0; j < segments[k]; ++j)
      decayOf[at++] = decay[k] ? o.weightDecay : 0.0;
  AdamWDevice d = adamwDevice(c, s, o, paramType, false);
  if (!c.call(ivl_shard_adamw(
          c.context(), &d.master, &d.expAvg, &d.expAvgSq, &d.grad,
          &d.gradScale, &d.step, o.lr, o.beta1, o.beta2, o.epsilon,
          o.weightDecay, segments.data(), decay.data(),
          static_cast<int32_t>(segments.size()), &d.newMaster, &d.newExpAvg,
          &d.newExpAvgSq, &d.newParam)))
    return;
  expectAdamW(c, adamwRef(s, o, decayOf), paramType, d.newMaster,
              d.newExpAvg, d.newExpAvgSq, d.newParam);
}

} // namespace

CONFORMANCE_CASE(shard_adamw, three_segments_padding) {
  // Decay on, off, on; three padding elements.
  AdamWSetting o;
  o.step = 1;
  o.weightDecay = 0.1;
  checkShardAdamW(c, IVL_F32, IVL_F32, {5, 13, 7}, {1, 0, 1}, 3, o);
}

CONFORMANCE_CASE(shard_adamw, bf16_step10_mixed_decay) {
  AdamWSetting o;
  o.step = 10;
  o.weightDecay = 0.05;
  o.gradScale = 0.25;
  checkShardAdamW(c, IVL_BF16, IVL_BF16, {33, 1, 1000, 13}, {0, 1, 1, 0}, 0,
                  o);
}

CONFORMANCE_CASE(shard_adamw, many_segments) {
  // 130 segments (more than the CUDA kernel's 128-entry table), sizes 1-3,
  // decay alternating; one padding element.
  std::vector<int64_t> segments;
  std::vector<uint8_t> decay;
  for (int k = 0; k < 130; ++k) {
    segments.push_back(1 + k % 3);
    decay.push_back(k % 2 == 0);
  }
  AdamWSetting o;
  o.step = 10;
  o.weightDecay = 0.1;
  checkShardAdamW(c, IVL_F32, IVL_BF16, segments, decay, 1, o);
}

CONFORMANCE_CASE(shard_adamw, no_decay_segments) {
  AdamWSetting o;
  o.step = 1;
  o.weightDecay = 0.1; // but no segment takes it
  checkShardAdamW(c, IVL_BF16, IVL_F32, {13, 33}, {0, 0}, 2, o);
}
