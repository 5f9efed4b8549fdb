//===- MemoryTimeline.cpp - --tg-memory-timeline=FILE.svg -----------------===//
//
// Live memory over the schedule as a stacked area chart: persistent bytes at
// the bottom, then the arena's live bytes by kind and region. Columns are
// merged down to at most kColumns; each column shows the step of its bucket
// with the most live bytes, so the peak survives the merge.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/Analysis/MemoryPlan.h"
#include "internvl/Dialect/TG/Transforms/Passes.h"
#include "internvl/Dialect/TG/Transforms/ReportFile.h"
#include "internvl/Support/Units.h"
#include "internvl/Support/PassOptions.h"

#include "llvm/Support/Format.h"

#include <map>

namespace mlir::tg {
#define GEN_PASS_DEF_TGMEMORYTIMELINE
#include "internvl/Dialect/TG/Transforms/Passes.h.inc"
} // namespace mlir::tg

using namespace mlir;
using namespace mlir::tg;
using internvl::ModelRegion;

namespace {

constexpr int kWidth = 1240, kHeight = 560, kLeft = 90, kRight = 330, kTop = 50,
              kBottom = 60, kColumns = 1000;

/// One colour per kind, lighter for the vision encoder, darker for the LLM.
std::string colour(BufferKind kind, ModelRegion region) {
  int hue = 0;
  switch (kind) {
  case BufferKind::SavedActivation:
    hue = 212;
    break;
  case BufferKind::Temporary:
    hue = 32;
    break;
  case BufferKind::Gradient:
    hue = 130;
    break;
  case BufferKind::Recomputed:
    hue = 280;
    break;
  case BufferKind::Workspace:
    hue = 0;
    break;
  case BufferKind::Output:
    hue = 55;
    break;
  case BufferKind::Offloaded: // in host memory: not on the device timeline
    hue = 185;
    break;
  }
  int light = region == ModelRegion::Vision      ? 72
              : region == ModelRegion::Projector ? 60
              : region == ModelRegion::Llm       ? 45
                                                 : 32;
  int sat = kind == BufferKind::Workspace ? 10 : 65;
  return "hsl(" + std::to_string(hue) + "," + std::to_string(sat) + "%," +
         std::to_string(light) + "%)";
}

struct MemoryTimelinePass
    : public internvl::PassWithOptionErrors<tg::impl::TGMemoryTimelineBase<MemoryTimelinePass>> {
  using PassWithOptionErrors::PassWithOptionErrors;

  /// The file may be given without a key: --tg-memory-timeline=FILE.
  LogicalResult initializeOptions(
      StringRef options,
      function_ref<LogicalResult(const Twine &)> errorHandler) override {
    return Pass::initializeOptions(fileOption(options), errorHandler);
  }

  void runOnOperation() override {
    FailureOr<MemoryPlan> plan = readModulePlan(getOperation(), functionName);
    if (failed(plan) || failed(writeReportFile(
                            getOperation(), "tg-memory-timeline", file,
                            [&](llvm::raw_ostream &os) { draw(*plan, os); })))
      return signalPassFailure();
    markAllAnalysesPreserved();
  }

  void draw(const MemoryPlan &plan, llvm::raw_ostream &os);
};

void MemoryTimelinePass::draw(const MemoryPlan &plan, llvm::raw_ostream &os) {
  const BufferAnalysis &a = *plan.analysis;
  int64_t steps = a.getSchedule().size();
  int64_t persistent = a.getPersistent().total();

  // Live bytes per series and step (difference arrays).
  std::map<std::pair<BufferKind, ModelRegion>, std::vector<int64_t>> series;
  for (const PlanBuffer &b : a.getBuffers()) {
    if (b.space != MemorySpace::Arena)
      continue;
    std::vector<int64_t> &s = series[{b.kind, b.region}];
    s.resize(steps + 1, 0);
    s[b.start] += b.bytes;
    s[b.end + 1] -= b.bytes;
  }
  for (auto &entry : series)
    for (int64_t i = 1; i <= steps; ++i)
      entry.second[i] += entry.second[i - 1];
  std::vector<int64_t> total = plan.liveBytesPerStep();

  // Columns: the busiest step of each bucket.
  int64_t columns = std::min<int64_t>(steps, kColumns);
  std::vector<int64_t> picked;
  for (int64_t c = 0; c < columns; ++c) {
    int64_t lo = c * steps / columns, hi = (c + 1) * steps / columns;
    int64_t best = lo;
    for (int64_t s = lo; s < std::max(hi, lo + 1); ++s)
      if (total[s] > total[best])
        best = s;
    picked.push_back(best);
  }

  double top = std::max<double>(plan.peakBytes(),
                                plan.budgetBytes ? *plan.budgetBytes : 0);
  top = std::max(top * 1.08, 1.0);
  int plotW = kWidth - kLeft - kRight, plotH = kHeight - kTop - kBottom;
  auto x = [&](double column) {
    return kLeft + plotW * column / std::max<int64_t>(columns, 1);
  };
  auto y = [&](double bytes) { return kTop + plotH * (1.0 - bytes / top); };
  auto gib = [](double bytes) { return bytes / double(1ll << 30); };

  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth
     << "\" height=\"" << kHeight << "\" font-family=\"sans-serif\" "
     << "font-size=\"12\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"" << kLeft << "\" y=\"22\" font-size=\"16\">Memory of @"
     << a.getFunction().getName() << " per rank: peak "
     << llvm::format("%.2f", gib(plan.peakBytes())) << " GiB = persistent "
     << llvm::format("%.2f", gib(persistent)) << " + arena "
     << llvm::format("%.2f", gib(plan.arenaBytes)) << " GiB</text>\n";

  // Persistent band.
  os << llvm::format("<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" "
                     "fill=\"#bbbbbb\"/>\n",
                     kLeft, y(persistent), plotW, y(0) - y(persistent));
  // Stacked series.
  std::vector<double> base(columns, persistent);
  std::vector<std::pair<std::string, std::string>> legend = {
      {"#bbbbbb", "persistent: params, master, grads, optimizer"}};
  for (auto &[key, values] : series) {
    std::string path;
    llvm::raw_string_ostream ps(path);
    std::vector<double> upper(columns);
    for (int64_t c = 0; c < columns; ++c)
      upper[c] = base[c] + values[picked[c]];
    ps << llvm::format("M%.1f,%.1f", x(0), y(upper[0]));
    for (int64_t c = 0; c < columns; ++c)
      ps << llvm::format(" L%.1f,%.1f L%.1f,%.1f", x(c), y(upper[c]), x(c + 1),
                         y(upper[c]));
    for (int64_t c = columns - 1; c >= 0; --c)
      ps << llvm::format(" L%.1f,%.1f L%.1f,%.1f", x(c + 1), y(base[c]), x(c),
                         y(base[c]));
    std::string fill = colour(key.first, key.second);
    os << "<path d=\"" << path << " Z\" fill=\"" << fill << "\"/>\n";
    legend.push_back({fill, internvl::stringifyRegion(key.second).str() + " " +
                                stringifyBufferKind(key.first).str()});
    base = upper;
  }

  // Axes and gridlines in GiB.
  for (int i = 0; i <= 5; ++i) {
    double bytes = top * i / 5;
    os << llvm::format("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                       "stroke=\"#dddddd\"/>\n",
                       kLeft, kLeft + plotW, y(bytes), y(bytes));
    os << llvm::format("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f "
                       "GiB</text>\n",
                       kLeft - 6, y(bytes) + 4, gib(bytes));
  }
  os << llvm::format("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step "
                     "(op order, %lld ops)</text>\n",
                     kLeft + plotW / 2, kHeight - 20,
                     static_cast<long long>(steps));

  // Where backward and the optimizer begin.
  auto stepX = [&](int64_t step) {
    int64_t c = 0;
    while (c + 1 < columns && picked[c + 1] <= step)
      ++c;
    return x(c);
  };
  for (Phase phase : {Phase::Backward, Phase::Optimizer}) {
    for (Operation *op : a.getSchedule()) {
      if (phaseOf(op) != phase)
        continue;
      double px = stepX(a.stepOf(op));
      os << llvm::format("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%.1f\" "
                         "stroke=\"#555555\" stroke-dasharray=\"2,3\"/>\n",
                         px, px, kTop, y(0));
      os << llvm::format("<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", px + 3,
                         y(0) - 6, stringifyPhase(phase).str().c_str());
      break;
    }
  }

  // The peak and the budget.
  int64_t peak = plan.peakStep();
  double px = stepX(peak);
  os << llvm::format("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" "
                     "stroke=\"black\" stroke-width=\"1.5\"/>\n",
                     px, px, y(persistent + total[peak]) - 14, y(0));
  os << llvm::format(
      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"black\"/>\n", px,
      y(persistent + total[peak]));
  os << llvm::format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">peak "
                     "%.2f GiB at step %lld</text>\n",
                     px, y(persistent + total[peak]) - 18,
                     gib(persistent + total[peak]),
                     static_cast<long long>(peak));
  if (plan.budgetBytes) {
    os << llvm::format("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                       "stroke=\"red\" stroke-width=\"1.5\" "
                       "stroke-dasharray=\"6,4\"/>\n",
                       kLeft, kLeft + plotW, y(*plan.budgetBytes),
                       y(*plan.budgetBytes));
    os << llvm::format("<text x=\"%d\" y=\"%.1f\" fill=\"red\" "
                       "text-anchor=\"end\">budget %.2f GiB</text>\n",
                       kLeft + plotW, y(*plan.budgetBytes) - 4,
                       gib(*plan.budgetBytes));
  }

  // Legend.
  int ly = kTop;
  for (auto &[fill, label] : legend) {
    os << "<rect x=\"" << kWidth - kRight + 16 << "\" y=\"" << ly
       << "\" width=\"12\" height=\"12\" fill=\"" << fill << "\"/>\n";
    os << "<text x=\"" << kWidth - kRight + 34 << "\" y=\"" << ly + 10 << "\">"
       << label << "</text>\n";
    ly += 18;
  }
  os << "</svg>\n";
}

} // namespace
