//===- Offload.cpp - conformance cases ----------------------------------===//
//
// Host offload: a tensor copied to pinned host memory (ivl_host_alloc) and
// back must come back bit for bit, in every element type, once each copy is
// waited for with ivl_copy_wait (they may run asynchronously on a copy
// stream). Destinations start as NaN patterns, so an element not written
// shows.
//
//===----------------------------------------------------------------------===//

#include "Conformance.h"

#include <memory>
#include <string>
#include <vector>

using namespace conformance;

namespace {

constexpr Tolerance kExact{0, 0};

/// Pinned host memory for `like`'s elements, freed when the case ends.
struct HostCopy {
  HostCopy(Case &c, const ivl_tensor &like) : ctx(c.context()) {
    t = like;
    bytes = ivl_numel(&like) * ivl_dtype_size(like.dtype);
    t.data = ivl_host_alloc(ctx, bytes);
  }
  ~HostCopy() { ivl_host_free(ctx, t.data); }
  ivl_context *ctx;
  ivl_tensor t;
  int64_t bytes = 0;
};

void checkRoundTrip(Case &c, const Tensor &x) {
  ivl_tensor d = c.device(x);
  HostCopy host(c, d);
  c.check(host.t.data != nullptr, "ivl_host_alloc returned null");
  if (!host.t.data)
    return;
  if (!c.call(ivl_offload(c.context(), &d, &host.t)) ||
      !c.call(ivl_copy_wait(c.context(), 0)))
    return;
  // The device copy may be overwritten once the offload was waited for.
  ivl_tensor back = c.output(x.dtype, x.shape);
  if (!c.call(ivl_prefetch(c.context(), &host.t, &back)) ||
      !c.call(ivl_copy_wait(c.context(), 0)))
    return;
  c.expect("prefetched", back, x.values, kExact);
}

} // namespace

CONFORMANCE_CASE(offload, round_trip_bf16) {
  checkRoundTrip(c, c.random(IVL_BF16, {3, 17, 64}));
}

CONFORMANCE_CASE(offload, round_trip_f32) {
  checkRoundTrip(c, c.random(IVL_F32, {1000}));
}

CONFORMANCE_CASE(offload, round_trip_odd_shape) {
  checkRoundTrip(c, c.random(IVL_BF16, {7, 13}));
}

CONFORMANCE_CASE(offload, round_trip_i64) {
  checkRoundTrip(c, c.integers({33}, -5, 1 << 20));
}

CONFORMANCE_CASE(offload, empty) {
  checkRoundTrip(c, c.random(IVL_BF16, {0, 8}));
}

CONFORMANCE_CASE(offload, other_type_rejected) {
  ivl_tensor d = c.device(c.random(IVL_BF16, {4, 4}));
  ivl_tensor out = c.output(IVL_F32, {4, 4});
  c.expectStatus(ivl_offload(c.context(), &d, &out),
                 IVL_ERROR_INVALID_ARGUMENT, "offload bf16 into f32");
}

CONFORMANCE_CASE(prefetch, other_count_rejected) {
  ivl_tensor d = c.device(c.random(IVL_F32, {4, 4}));
  ivl_tensor out = c.output(IVL_F32, {4, 5});
  c.expectStatus(ivl_prefetch(c.context(), &d, &out),
                 IVL_ERROR_INVALID_ARGUMENT, "prefetch 16 into 20 elements");
}

CONFORMANCE_CASE(prefetch, round_trip_many) {
  // Several copies in flight; waiting for the latest waits for all of
  // them (the copy stream is in order).
  std::vector<Tensor> xs = {c.random(IVL_BF16, {129}),
                            c.random(IVL_F32, {5, 5}),
                            c.random(IVL_BF16, {2, 3, 4})};
  std::vector<ivl_tensor> ds;
  std::vector<std::unique_ptr<HostCopy>> hosts;
  for (const Tensor &x : xs) {
    ds.push_back(c.device(x));
    hosts.push_back(std::make_unique<HostCopy>(c, ds.back()));
    if (!c.call(ivl_offload(c.context(), &ds.back(), &hosts.back()->t)))
      return;
  }
  if (!c.call(ivl_copy_wait(c.context(), 2)) ||
      !c.call(ivl_copy_wait(c.context(), 0)))
    return;
  for (size_t k = 0; k < xs.size(); ++k) {
    ivl_tensor back = c.output(xs[k].dtype, xs[k].shape);
    if (!c.call(ivl_prefetch(c.context(), &hosts[k]->t, &back)) ||
        !c.call(ivl_copy_wait(c.context(), 1000)))
      return;
    c.expect(("tensor " + std::to_string(k)).c_str(), back, xs[k].values,
             kExact);
  }
}

CONFORMANCE_CASE(copy_wait, negative_rejected) {
  c.expectStatus(ivl_copy_wait(c.context(), -1), IVL_ERROR_INVALID_ARGUMENT,
                 "copy_wait(-1)");
}

CONFORMANCE_CASE(copy_wait, nothing_in_flight) {
  c.check(c.call(ivl_copy_wait(c.context(), 0)), "copy_wait with no copy");
}

CONFORMANCE_CASE(set_host_buffer, refusals_and_the_step_check) {
  c.expectStatus(ivl_set_host_buffer(c.context(), nullptr, -1),
                 IVL_ERROR_INVALID_ARGUMENT, "set_host_buffer(-1 bytes)");
  c.expectStatus(ivl_set_host_buffer(c.context(), nullptr, 256),
                 IVL_ERROR_INVALID_ARGUMENT, "set_host_buffer(null, 256)");
  // A step that offloads 512 bytes refuses a 256-byte buffer, takes 512.
  void *buffer = ivl_host_alloc(c.context(), 512);
  c.check(buffer != nullptr, "ivl_host_alloc(512) returned null");
  if (!buffer)
    return;
  if (c.call(ivl_set_host_buffer(c.context(), buffer, 256))) {
    c.expectStatus(ivl_require_host_buffer(c.context(), 512),
                   IVL_ERROR_INVALID_ARGUMENT, "a 256-byte buffer for 512");
    int64_t bytes = 0;
    c.check(ivl_host_buffer(c.context(), &bytes) == buffer && bytes == 256,
            "ivl_host_buffer returns what was set");
  }
  if (c.call(ivl_set_host_buffer(c.context(), buffer, 512)))
    c.check(c.call(ivl_require_host_buffer(c.context(), 512)),
            "a 512-byte buffer for 512");
  ivl_set_host_buffer(c.context(), nullptr, 0);
  ivl_host_free(c.context(), buffer);
}
