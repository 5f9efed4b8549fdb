//===- Layout.cpp - conformance of the data-movement kernels --------------===//

#include "Conformance.h"

#include <cmath>

using namespace conformance;

namespace {

Shape unravel(int64_t flat, const Shape &shape) {
  Shape c(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    c[d] = flat % shape[d];
    flat /= shape[d];
  }
  return c;
}

int64_t ravel(const Shape &c, const Shape &shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    flat = flat * shape[d] + c[d];
  return flat;
}

/// Data movement is exact.
const Tolerance kExact = {0, 0};

void transposeCase(Case &c, ivl_dtype dtype, Shape in, Shape perm) {
  Shape out;
  for (int64_t p : perm)
    out.push_back(in[p]);
  Tensor x = c.random(dtype, in);
  ivl_tensor dx = c.device(x), o = c.output(dtype, out);
  if (!c.call(ivl_transpose(c.context(), &dx, perm.data(), &o)))
    return;
  std::vector<double> want(numel(out));
  for (int64_t i = 0; i < numel(out); ++i) {
    Shape oc = unravel(i, out), ic(in.size());
    for (size_t d = 0; d < perm.size(); ++d)
      ic[perm[d]] = oc[d];
    want[i] = x[ravel(ic, in)];
  }
  c.expect("out", o, want, kExact);
}

void sliceCase(Case &c, ivl_dtype dtype, Shape in, Shape offsets, Shape out) {
  Tensor x = c.random(dtype, in);
  ivl_tensor dx = c.device(x), o = c.output(dtype, out);
  if (!c.call(ivl_slice(c.context(), &dx, offsets.data(), &o)))
    return;
  std::vector<double> want(numel(out));
  for (int64_t i = 0; i < numel(out); ++i) {
    Shape oc = unravel(i, out);
    for (size_t d = 0; d < oc.size(); ++d)
      oc[d] += offsets[d];
    want[i] = x[ravel(oc, in)];
  }
  c.expect("out", o, want, kExact);
}

void padCase(Case &c, ivl_dtype dtype, Shape in, Shape low, Shape out) {
  Tensor x = c.random(dtype, in);
  ivl_tensor dx = c.device(x), o = c.output(dtype, out);
  if (!c.call(ivl_pad(c.context(), &dx, low.data(), &o)))
    return;
  std::vector<double> want(numel(out), 0);
  for (int64_t i = 0; i < x.size(); ++i) {
    Shape ic = unravel(i, in);
    for (size_t d = 0; d < ic.size(); ++d)
      ic[d] += low[d];
    want[ravel(ic, out)] = x[i];
  }
  c.expect("out", o, want, kExact);
}

void broadcastCase(Case &c, ivl_dtype dtype, Shape in, Shape out) {
  Tensor x = c.random(dtype, in);
  ivl_tensor dx = c.device(x), o = c.output(dtype, out);
  if (!c.call(ivl_broadcast(c.context(), &dx, &o)))
    return;
  std::vector<double> want(numel(out));
  size_t lead = out.size() - in.size();
  for (int64_t i = 0; i < numel(out); ++i) {
    Shape oc = unravel(i, out), ic(in.size());
    for (size_t d = 0; d < in.size(); ++d)
      ic[d] = in[d] == 1 ? 0 : oc[d + lead];
    want[i] = x[ravel(ic, in)];
  }
  c.expect("out", o, want, kExact);
}

void concatCase(Case &c, ivl_dtype dtype, std::vector<Shape> ins, int32_t dim) {
  Shape out = ins[0];
  out[dim] = 0;
  std::vector<Tensor> xs;
  std::vector<ivl_tensor> ds;
  for (const Shape &s : ins) {
    out[dim] += s[dim];
    xs.push_back(c.random(dtype, s));
  }
  for (const Tensor &x : xs)
    ds.push_back(c.device(x));
  ivl_tensor o = c.output(dtype, out);
  if (!c.call(ivl_concat(c.context(), ds.data(),
                         static_cast<int32_t>(ds.size()), dim, &o)))
    return;
  std::vector<double> want(numel(out));
  for (int64_t i = 0; i < numel(out); ++i) {
    Shape oc = unravel(i, out);
    size_t k = 0;
    while (oc[dim] >= ins[k][dim])
      oc[dim] -= ins[k++][dim];
    want[i] = xs[k][ravel(oc, ins[k])];
  }
  c.expect("out", o, want, kExact);
}

void reduceSumCase(Case &c, ivl_dtype dtype, Shape in, Shape dims,
                   bool keepDims) {
  Shape out;
  std::vector<bool> reduced(in.size(), false);
  for (int64_t d : dims)
    reduced[d] = true;
  for (size_t d = 0; d < in.size(); ++d)
    if (!reduced[d])
      out.push_back(in[d]);
    else if (keepDims)
      out.push_back(1);
  Tensor x = c.random(dtype, in);
  ivl_tensor dx = c.device(x), o = c.output(dtype, out);
  if (!c.call(ivl_reduce_sum(c.context(), &dx, dims.data(),
                             static_cast<int32_t>(dims.size()), &o)))
    return;
  std::vector<double> want(numel(out), 0);
  int64_t terms = numel(out) ? x.size() / numel(out) : 0;
  for (int64_t i = 0; i < x.size(); ++i) {
    Shape ic = unravel(i, in), kept;
    for (size_t d = 0; d < in.size(); ++d)
      if (!reduced[d])
        kept.push_back(ic[d]);
      else if (keepDims)
        kept.push_back(0);
    want[ravel(kept, out)] += x[i];
  }
  c.expect("out", o, want, toleranceFor(dtype, std::sqrt(terms + 1.0)));
}

} // namespace

CONFORMANCE_CASE(transpose, permutations) {
  transposeCase(c, IVL_BF16, {2, 3, 5}, {2, 0, 1});
  transposeCase(c, IVL_F32, {7, 13}, {1, 0});
  transposeCase(c, IVL_BF16, {2, 2, 3, 1, 3, 2}, {0, 2, 4, 1, 3, 5});
  transposeCase(c, IVL_I64, {3, 4}, {1, 0});
}

CONFORMANCE_CASE(transpose, empty_and_identity) {
  transposeCase(c, IVL_BF16, {0, 3}, {1, 0});
  transposeCase(c, IVL_F32, {4, 1, 5}, {0, 1, 2});
}

CONFORMANCE_CASE(broadcast, leading_and_unit_dims) {
  broadcastCase(c, IVL_BF16, {5}, {3, 4, 5});
  broadcastCase(c, IVL_F32, {3, 1}, {2, 3, 7});
  broadcastCase(c, IVL_BF16, {}, {4, 2});
  broadcastCase(c, IVL_F32, {1, 6}, {0, 6});
}

CONFORMANCE_CASE(concat, each_dim) {
  concatCase(c, IVL_BF16, {{2, 3, 4}, {2, 5, 4}}, 1);
  concatCase(c, IVL_F32, {{1, 4}, {3, 4}, {2, 4}}, 0);
  concatCase(c, IVL_BF16, {{2, 3, 1}, {2, 3, 7}}, 2);
  concatCase(c, IVL_BF16, {{2, 0}, {2, 3}}, 1);
}

CONFORMANCE_CASE(slice, offsets) {
  sliceCase(c, IVL_BF16, {4, 9, 5}, {1, 2, 0}, {2, 6, 5});
  sliceCase(c, IVL_F32, {13}, {12}, {1});
  sliceCase(c, IVL_I64, {3, 8}, {0, 1}, {3, 7});
  sliceCase(c, IVL_BF16, {3, 8}, {1, 4}, {0, 4});
}

CONFORMANCE_CASE(pad, low_and_high) {
  padCase(c, IVL_BF16, {2, 6, 5}, {1, 2, 0}, {4, 9, 5});
  padCase(c, IVL_F32, {1}, {12}, {13});
  padCase(c, IVL_BF16, {0, 4}, {1, 0}, {2, 4});
}

CONFORMANCE_CASE(reduce_sum, dims) {
  reduceSumCase(c, IVL_F32, {4, 7, 3}, {0}, false);
  reduceSumCase(c, IVL_BF16, {4, 7, 3}, {0, 1}, false);
  reduceSumCase(c, IVL_BF16, {5, 33}, {1}, true);
  reduceSumCase(c, IVL_F32, {2, 3, 4}, {0, 2}, false);
  reduceSumCase(c, IVL_BF16, {1000, 3}, {0}, false);
}

CONFORMANCE_CASE(reduce_sum, all_and_empty) {
  reduceSumCase(c, IVL_F32, {6, 5}, {0, 1}, false);
  reduceSumCase(c, IVL_BF16, {0, 5}, {0}, false);
}
