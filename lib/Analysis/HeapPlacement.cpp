//===- HeapPlacement.cpp - best-fit placement of buffers with lifetimes ---===//

#include "internvl/Analysis/HeapPlacement.h"

#include <algorithm>
#include <functional>
#include <numeric>

using namespace internvl;

int64_t internvl::liveLowerBound(llvm::ArrayRef<BufferInterval> buffers) {
  // Sweep over the schedule: +size at start, -size after end.
  std::vector<std::pair<int64_t, int64_t>> events;
  events.reserve(2 * buffers.size());
  for (const BufferInterval &b : buffers) {
    events.push_back({b.start, b.size});
    events.push_back({b.end + 1, -b.size});
  }
  // At equal steps, releases (negative) come before allocations.
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0;
  for (auto &[step, delta] : events) {
    live += delta;
    peak = std::max(peak, live);
  }
  return peak;
}

namespace {

/// Places buffers in `order`, each at the best-fitting gap among the placed
/// buffers that overlap it in time.
Placement placeInOrder(llvm::ArrayRef<BufferInterval> buffers,
                       const std::vector<size_t> &order) {
  Placement result;
  result.offsets.assign(buffers.size(), -1);
  // The placed buffers by offset, so that those overlapping a new one in
  // time come in address order without a sort per buffer (O(n^2) in all;
  // the order among equal offsets does not change the gaps found).
  std::vector<size_t> placed;
  placed.reserve(buffers.size());
  for (size_t i : order) {
    const BufferInterval &b = buffers[i];
    int64_t bestOffset = -1, bestGap = INT64_MAX, cursor = 0;
    for (size_t j : placed) {
      const BufferInterval &o = buffers[j];
      if (o.start > b.end || b.start > o.end)
        continue;
      int64_t begin = result.offsets[j], end = begin + o.size;
      if (begin > cursor) {
        int64_t gap = begin - cursor;
        if (gap >= b.size && gap < bestGap) {
          bestGap = gap;
          bestOffset = cursor;
        }
      }
      cursor = std::max(cursor, end);
    }
    if (bestOffset < 0)
      bestOffset = cursor; // on top of everything live at the same time
    result.offsets[i] = bestOffset;
    result.arenaBytes = std::max(result.arenaBytes, bestOffset + b.size);
    auto at = std::upper_bound(
        placed.begin(), placed.end(), bestOffset,
        [&](int64_t offset, size_t j) { return offset < result.offsets[j]; });
    placed.insert(at, i);
  }
  return result;
}

} // namespace

Placement internvl::placeBestFit(llvm::ArrayRef<BufferInterval> buffers) {
  std::vector<size_t> ids(buffers.size());
  std::iota(ids.begin(), ids.end(), 0);
  auto bySize = [&](size_t a, size_t b) {
    const BufferInterval &x = buffers[a], &y = buffers[b];
    if (x.size != y.size)
      return x.size > y.size;
    if (x.start != y.start)
      return x.start < y.start;
    return a < b;
  };
  auto byArea = [&](size_t a, size_t b) {
    const BufferInterval &x = buffers[a], &y = buffers[b];
    __int128 ax = static_cast<__int128>(x.size) * (x.end - x.start + 1);
    __int128 ay = static_cast<__int128>(y.size) * (y.end - y.start + 1);
    if (ax != ay)
      return ax > ay;
    return bySize(a, b);
  };
  auto byLifetime = [&](size_t a, size_t b) {
    const BufferInterval &x = buffers[a], &y = buffers[b];
    int64_t lx = x.end - x.start, ly = y.end - y.start;
    if (lx != ly)
      return lx > ly;
    return bySize(a, b);
  };
  Placement best;
  best.arenaBytes = INT64_MAX;
  int64_t bound = liveLowerBound(buffers);
  std::vector<std::function<bool(size_t, size_t)>> orders = {bySize, byArea,
                                                             byLifetime};
  for (auto &compare : orders) {
    std::vector<size_t> order = ids;
    std::stable_sort(order.begin(), order.end(), compare);
    Placement p = placeInOrder(buffers, order);
    if (p.arenaBytes < best.arenaBytes)
      best = std::move(p);
    if (best.arenaBytes == bound)
      break; // optimal
  }
  if (buffers.empty())
    best.arenaBytes = 0;
  return best;
}
