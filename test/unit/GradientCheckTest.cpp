//===- GradientCheckTest.cpp - finite differences against every gradient --===//
//
// For each differentiable op: a small f32 function computes y = op(x...) and
// the loss L = sum(y * r) with a fixed random r; the reverse-mode gradient of
// L (buildReverseMode + the interpreter) must match central differences
// (L(x + h) - L(x - h)) / 2h on sampled elements of every trainable input.
//
//===----------------------------------------------------------------------===//

#include "internvl/Dialect/TG/IR/TGOps.h"
#include "internvl/Dialect/TG/Transforms/ReverseMode.h"
#include "internvl/Interpreter/Interpreter.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>

using namespace mlir;
using namespace internvl;

namespace {

struct Case {
  std::string name;
  /// Arguments (without %r), e.g. "%x: tensor<4x8xf32> {tg.trainable}".
  std::string args;
  /// Ops that define %y.
  std::string body;
  /// Type of %y.
  std::string resultType;
  /// Rank of %y (for the loss reduction).
  int rank;
  /// Integer arguments (token ids, labels) filled by the case.
  std::function<void(std::vector<HostTensor> &)> fixInputs = nullptr;
};

/// Names the case in gtest's messages instead of dumping its bytes.
void PrintTo(const Case &c, std::ostream *os) { *os << c.name; }

std::string moduleText(const Case &c) {
  std::string dims;
  for (int i = 0; i < c.rank; ++i)
    dims += (i ? ", " : "") + std::to_string(i);
  return "func.func @f(" + c.args + ", %r: " + c.resultType +
         ") -> tensor<f32> {\n" + c.body +
         "\n  %p = tg.mul %y, %r : " + c.resultType + ", " + c.resultType +
         " -> " + c.resultType + "\n  %l = tg.reduce_sum %p {dims = array<i64" +
         (dims.empty() ? "" : ": " + dims) + ">} : " + c.resultType +
         " -> tensor<f32>\n  return %l : tensor<f32>\n}\n";
}

class GradientCheck : public ::testing::TestWithParam<Case> {
protected:
  void SetUp() override {
    context.loadDialect<tg::TGDialect, func::FuncDialect>();
  }
  MLIRContext context;
};

float lossOf(func::FuncOp f, const std::vector<HostTensor> &args) {
  llvm::Expected<std::vector<HostTensor>> out = interpret(f, args);
  if (!out) {
    ADD_FAILURE() << llvm::toString(out.takeError());
    return 0.0f;
  }
  return (*out)[0].floatAt(0);
}

HostTensor copyOf(const HostTensor &t) {
  HostTensor c = HostTensor::allocate(t.dtype, t.shape);
  std::memcpy(c.data(), t.data(), t.bytes());
  return c;
}

TEST_P(GradientCheck, MatchesFiniteDifferences) {
  const Case &c = GetParam();
  std::string text = moduleText(c);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  ASSERT_TRUE(module) << "cannot parse:\n" << text;
  auto f = module->lookupSymbol<func::FuncOp>("f");

  // @g: the same function returning the loss and its gradients.
  OpBuilder b(&context);
  b.setInsertionPointAfter(f);
  auto g = cast<func::FuncOp>(b.clone(*f));
  g.setName("g");
  Block &body = g.getBody().front();
  SmallVector<Value> wrt;
  SmallVector<unsigned> trainable;
  for (unsigned i = 0; i < g.getNumArguments(); ++i)
    if (g.getArgAttr(i, tg::TGDialect::getTrainableAttrName())) {
      trainable.push_back(i);
      wrt.push_back(g.getArgument(i));
    }
  ASSERT_FALSE(wrt.empty());
  auto ret = cast<func::ReturnOp>(body.getTerminator());
  FailureOr<SmallVector<Value>> grads =
      tg::buildReverseMode(body, ret.getOperand(0), wrt);
  ASSERT_TRUE(succeeded(grads));
  SmallVector<Value> results = {ret.getOperand(0)};
  for (Value grad : *grads) {
    ASSERT_TRUE(grad) << "no gradient reached a trainable input";
    results.push_back(grad);
  }
  b.setInsertionPoint(ret);
  b.create<func::ReturnOp>(ret.getLoc(), results);
  ret.erase();
  g.setType(b.getFunctionType(body.getArgumentTypes(),
                              ValueRange(results).getTypes()));
  ASSERT_TRUE(succeeded(verify(*module))) << "gradient graph does not verify";

  // Random f32 inputs; integer inputs come from the case.
  std::mt19937_64 rng(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<HostTensor> args;
  for (ArgSpec &spec : argumentSpecs(f)) {
    HostTensor t = HostTensor::allocate(spec.dtype, spec.shape);
    if (spec.dtype == IVL_F32)
      for (int64_t i = 0; i < t.numel(); ++i)
        static_cast<float *>(t.data())[i] = normal(rng);
    args.push_back(t);
  }
  if (c.fixInputs)
    c.fixInputs(args);

  llvm::Expected<std::vector<HostTensor>> analytic = interpret(g, args);
  ASSERT_TRUE(static_cast<bool>(analytic))
      << llvm::toString(analytic.takeError());

  const float h = 1e-2f;
  for (auto [k, argIndex] : llvm::enumerate(trainable)) {
    const HostTensor &grad = (*analytic)[k + 1];
    int64_t n = args[argIndex].numel();
    // Every element of small inputs, a sample of larger ones.
    std::uniform_int_distribution<int64_t> pick(0, n - 1);
    int64_t checks = std::min<int64_t>(n, 24);
    double scale = 0.0;
    for (int64_t i = 0; i < grad.numel(); ++i)
      scale = std::max(scale, std::fabs(double(grad.floatAt(i))));
    for (int64_t s = 0; s < checks; ++s) {
      int64_t i = n <= 24 ? s : pick(rng);
      std::vector<HostTensor> plus = args, minus = args;
      plus[argIndex] = copyOf(args[argIndex]);
      minus[argIndex] = copyOf(args[argIndex]);
      static_cast<float *>(plus[argIndex].data())[i] += h;
      static_cast<float *>(minus[argIndex].data())[i] -= h;
      double fd =
          (double(lossOf(f, plus)) - double(lossOf(f, minus))) / (2 * h);
      double an = grad.floatAt(i);
      // f32 evaluation: rounding of L over 2h plus O(h^2) truncation.
      double tolerance = 2e-2 * std::fabs(an) + 1e-2 * std::max(scale, 1e-3);
      EXPECT_NEAR(an, fd, tolerance)
          << c.name << ": d loss / d arg" << argIndex << "[" << i << "]";
    }
  }
}

void setIds(HostTensor &t, std::vector<int64_t> values) {
  ASSERT_EQ(static_cast<int64_t>(values.size()), t.numel());
  std::memcpy(t.data(), values.data(), values.size() * sizeof(int64_t));
}

const Case cases[] = {
    {"add_broadcast",
     "%a: tensor<3x4xf32> {tg.trainable}, %b: tensor<4xf32> {tg.trainable}",
     "%y = tg.add %a, %b : tensor<3x4xf32>, tensor<4xf32> -> tensor<3x4xf32>",
     "tensor<3x4xf32>", 2},
    {"sub_broadcast",
     "%a: tensor<2x1x4xf32> {tg.trainable}, %b: tensor<3x4xf32> {tg.trainable}",
     "%y = tg.sub %a, %b : tensor<2x1x4xf32>, tensor<3x4xf32> -> "
     "tensor<2x3x4xf32>",
     "tensor<2x3x4xf32>", 3},
    {"mul_layer_scale",
     "%a: tensor<2x3x4xf32> {tg.trainable}, %b: tensor<4xf32> {tg.trainable}",
     "%y = tg.mul %a, %b : tensor<2x3x4xf32>, tensor<4xf32> -> "
     "tensor<2x3x4xf32>",
     "tensor<2x3x4xf32>", 3},
    {"div",
     "%a: tensor<3x4xf32> {tg.trainable}, %b: tensor<3x4xf32> {tg.trainable}",
     "%b2 = tg.mul %b, %b : tensor<3x4xf32>, tensor<3x4xf32> -> "
     "tensor<3x4xf32>\n"
     "%one = tg.fill 1.0 : tensor<3x4xf32>\n"
     "%d = tg.add %b2, %one : tensor<3x4xf32>, tensor<3x4xf32> -> "
     "tensor<3x4xf32>\n"
     "%y = tg.div %a, %d : tensor<3x4xf32>, tensor<3x4xf32> -> tensor<3x4xf32>",
     "tensor<3x4xf32>", 2},
    {"neg_scale", "%a: tensor<5xf32> {tg.trainable}",
     "%n = tg.neg %a : tensor<5xf32>\n"
     "%y = tg.scale %n {factor = 2.5 : f64} : tensor<5xf32>",
     "tensor<5xf32>", 1},
    {"gelu", "%a: tensor<16xf32> {tg.trainable}",
     "%y = tg.gelu %a : tensor<16xf32>", "tensor<16xf32>", 1},
    {"gelu_tanh", "%a: tensor<16xf32> {tg.trainable}",
     "%y = tg.gelu %a approximate = tanh : tensor<16xf32>", "tensor<16xf32>",
     1},
    {"silu", "%a: tensor<16xf32> {tg.trainable}",
     "%y = tg.silu %a : tensor<16xf32>", "tensor<16xf32>", 1},
    {"linear",
     "%x: tensor<2x3x5xf32> {tg.trainable}, %w: tensor<4x5xf32> "
     "{tg.trainable}, "
     "%b: tensor<4xf32> {tg.trainable}",
     "%y = tg.linear %x, %w, %b : (tensor<2x3x5xf32>, tensor<4x5xf32>, "
     "tensor<4xf32>) -> tensor<2x3x4xf32>",
     "tensor<2x3x4xf32>", 3},
    {"matmul",
     "%a: tensor<2x3x5xf32> {tg.trainable}, %b: tensor<2x5x4xf32> "
     "{tg.trainable}",
     "%y = tg.matmul %a, %b : (tensor<2x3x5xf32>, tensor<2x5x4xf32>) -> "
     "tensor<2x3x4xf32>",
     "tensor<2x3x4xf32>", 3},
    {"matmul_transposed",
     "%a: tensor<5x3xf32> {tg.trainable}, %b: tensor<4x5xf32> {tg.trainable}",
     "%y = tg.matmul %a, %b {transpose_lhs, transpose_rhs} : (tensor<5x3xf32>, "
     "tensor<4x5xf32>) -> tensor<3x4xf32>",
     "tensor<3x4xf32>", 2},
    {"matmul_transpose_lhs",
     "%a: tensor<5x3xf32> {tg.trainable}, %b: tensor<5x4xf32> {tg.trainable}",
     "%y = tg.matmul %a, %b {transpose_lhs} : (tensor<5x3xf32>, "
     "tensor<5x4xf32>) -> tensor<3x4xf32>",
     "tensor<3x4xf32>", 2},
    {"matmul_shared_rhs",
     "%a: tensor<2x3x5xf32> {tg.trainable}, %b: tensor<4x5xf32> {tg.trainable}",
     "%y = tg.matmul %a, %b {transpose_rhs} : (tensor<2x3x5xf32>, "
     "tensor<4x5xf32>) -> tensor<2x3x4xf32>",
     "tensor<2x3x4xf32>", 3},
    {"reshape_transpose", "%a: tensor<2x6xf32> {tg.trainable}",
     "%rs = tg.reshape %a : tensor<2x6xf32> -> tensor<2x3x2xf32>\n"
     "%y = tg.transpose %rs {permutation = array<i64: 2, 0, 1>} : "
     "tensor<2x3x2xf32> -> tensor<2x2x3xf32>",
     "tensor<2x2x3xf32>", 3},
    {"broadcast", "%a: tensor<1x3xf32> {tg.trainable}",
     "%y = tg.broadcast %a : tensor<1x3xf32> -> tensor<2x4x3xf32>",
     "tensor<2x4x3xf32>", 3},
    {"concat_slice_pad",
     "%a: tensor<2x1x3xf32> {tg.trainable}, %b: tensor<2x4x3xf32> "
     "{tg.trainable}",
     "%c = tg.concat %a, %b {dim = 1 : i64} : (tensor<2x1x3xf32>, "
     "tensor<2x4x3xf32>) -> tensor<2x5x3xf32>\n"
     "%s = tg.slice %c {offsets = array<i64: 0, 1, 1>} : tensor<2x5x3xf32> -> "
     "tensor<2x3x2xf32>\n"
     "%y = tg.pad %s {low = array<i64: 1, 0, 0>, high = array<i64: 0, 1, 1>} : "
     "tensor<2x3x2xf32> -> tensor<3x4x3xf32>",
     "tensor<3x4x3xf32>", 3},
    {"reduce_sum", "%a: tensor<2x3x4xf32> {tg.trainable}",
     "%y = tg.reduce_sum %a {dims = array<i64: 0, 2>} : tensor<2x3x4xf32> -> "
     "tensor<3xf32>",
     "tensor<3xf32>", 1},
    {"layer_norm",
     "%x: tensor<3x8xf32> {tg.trainable}, %w: tensor<8xf32> {tg.trainable}, "
     "%b: tensor<8xf32> {tg.trainable}",
     "%y, %m, %s = tg.layer_norm %x, %w, %b {epsilon = 1.0e-5 : f64} : "
     "(tensor<3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<3x8xf32>, "
     "tensor<3xf32>, tensor<3xf32>)",
     "tensor<3x8xf32>", 2},
    {"rms_norm",
     "%x: tensor<3x8xf32> {tg.trainable}, %w: tensor<8xf32> {tg.trainable}",
     "%y, %s = tg.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : (tensor<3x8xf32>, "
     "tensor<8xf32>) -> (tensor<3x8xf32>, tensor<3xf32>)",
     "tensor<3x8xf32>", 2},
    {"attention_gqa_causal",
     "%q: tensor<2x5x4x3xf32> {tg.trainable}, %k: tensor<2x5x2x3xf32> "
     "{tg.trainable}, "
     "%v: tensor<2x5x2x3xf32> {tg.trainable}",
     "%y, %lse = tg.attention %q, %k, %v {causal, scale = 0.57735 : f64} : "
     "(tensor<2x5x4x3xf32>, tensor<2x5x2x3xf32>, tensor<2x5x2x3xf32>) -> "
     "(tensor<2x5x4x3xf32>, tensor<2x4x5xf32>)",
     "tensor<2x5x4x3xf32>", 4},
    {"attention_full",
     "%q: tensor<1x4x2x3xf32> {tg.trainable}, %k: tensor<1x6x2x3xf32> "
     "{tg.trainable}, "
     "%v: tensor<1x6x2x5xf32> {tg.trainable}",
     "%y, %lse = tg.attention %q, %k, %v {scale = 0.57735 : f64} : "
     "(tensor<1x4x2x3xf32>, tensor<1x6x2x3xf32>, tensor<1x6x2x5xf32>) -> "
     "(tensor<1x4x2x5xf32>, tensor<1x2x4xf32>)",
     "tensor<1x4x2x5xf32>", 4},
    {"attention_packed_causal",
     "%q: tensor<1x7x2x3xf32> {tg.trainable}, %k: tensor<1x7x1x3xf32> "
     "{tg.trainable}, %v: tensor<1x7x1x3xf32> {tg.trainable}, "
     "%cu: tensor<1x4xi64>",
     "%y, %lse = tg.attention %q, %k, %v, %cu {causal, expected_samples = 2 "
     ": i64, scale = 0.57735 : f64} : (tensor<1x7x2x3xf32>, "
     "tensor<1x7x1x3xf32>, tensor<1x7x1x3xf32>, tensor<1x4xi64>) -> "
     "(tensor<1x7x2x3xf32>, tensor<1x2x7xf32>)",
     "tensor<1x7x2x3xf32>", 4,
     [](std::vector<HostTensor> &a) { setIds(a[3], {0, 3, 3, 7}); }},
    {"rope_packed", "%x: tensor<1x6x2x4xf32> {tg.trainable}, "
     "%cu: tensor<1x3xi64>",
     "%y = tg.rope %x samples %cu : tensor<1x3xi64> {theta = 100.0 : f64} : "
     "tensor<1x6x2x4xf32>",
     "tensor<1x6x2x4xf32>", 4,
     [](std::vector<HostTensor> &a) { setIds(a[1], {0, 2, 6}); }},
    {"rope_scaled", "%x: tensor<1x5x2x4xf32> {tg.trainable}",
     "%y = tg.rope %x {theta = 100.0 : f64, freq_factors = array<f64: 1.0, "
     "3.0>, "
     "attention_factor = 1.2 : f64} : tensor<1x5x2x4xf32>",
     "tensor<1x5x2x4xf32>", 4},
    {"embedding", "%t: tensor<7x3xf32> {tg.trainable}, %ids: tensor<2x4xi64>",
     "%y = tg.embedding %t, %ids : (tensor<7x3xf32>, tensor<2x4xi64>) -> "
     "tensor<2x4x3xf32>",
     "tensor<2x4x3xf32>", 3,
     [](std::vector<HostTensor> &a) {
       setIds(a[1], {0, 3, 3, 6, 1, 0, 5, 3});
     }},
    {"scatter_image_embeds",
     "%e: tensor<2x4x3xf32> {tg.trainable}, %ids: tensor<2x4xi64>, "
     "%img: tensor<3x3xf32> {tg.trainable}",
     "%y = tg.scatter_image_embeds %e, %ids, %img {image_token_id = 9 : i64} : "
     "(tensor<2x4x3xf32>, tensor<2x4xi64>, tensor<3x3xf32>) -> "
     "tensor<2x4x3xf32>",
     "tensor<2x4x3xf32>", 3,
     [](std::vector<HostTensor> &a) {
       setIds(a[1], {1, 9, 2, 3, 9, 9, 4, 5});
     }},
    {"scatter_image_embeds_flags",
     "%e: tensor<1x6x3xf32> {tg.trainable}, %ids: tensor<1x6xi64>, "
     "%img: tensor<6x3xf32> {tg.trainable}, %flags: tensor<3xi64>",
     "%y = tg.scatter_image_embeds %e, %ids, %img, %flags {image_token_id = 9 "
     ": i64} : (tensor<1x6x3xf32>, tensor<1x6xi64>, tensor<6x3xf32>, "
     "tensor<3xi64>) -> tensor<1x6x3xf32>",
     "tensor<1x6x3xf32>", 3,
     [](std::vector<HostTensor> &a) {
       setIds(a[1], {9, 9, 1, 9, 9, 2});
       setIds(a[3], {1, 0, 1});
     }},
    {"pixel_shuffle_v2_non_square", "%x: tensor<2x4x2x3xf32> {tg.trainable}",
     "%y = tg.pixel_shuffle %x {scale_factor = 0.5 : f64, version = "
     "#tg<ps_version v2>} : "
     "tensor<2x4x2x3xf32> -> tensor<2x2x1x12xf32>",
     "tensor<2x2x1x12xf32>", 4},
    {"pixel_shuffle_v1", "%x: tensor<1x4x2x3xf32> {tg.trainable}",
     "%y = tg.pixel_shuffle %x {scale_factor = 0.5 : f64, version = "
     "#tg<ps_version v1>} : "
     "tensor<1x4x2x3xf32> -> tensor<1x1x2x12xf32>",
     "tensor<1x1x2x12xf32>", 4},
    {"drop_path", "%x: tensor<6x3xf32> {tg.trainable}, %step: tensor<i64>",
     "%y = tg.drop_path %x, %step {rate = 0.5 : f64, seed = 3 : i64, offset = "
     "1 : i64} : "
     "(tensor<6x3xf32>, tensor<i64>) -> tensor<6x3xf32>",
     "tensor<6x3xf32>", 2,
     [](std::vector<HostTensor> &a) { setIds(a[1], {7}); }},
    {"dropout", "%x: tensor<5x7xf32> {tg.trainable}, %step: tensor<i64>",
     "%y = tg.dropout %x, %step {rate = 0.3 : f64, seed = 5 : i64, offset = "
     "2 : i64} : "
     "(tensor<5x7xf32>, tensor<i64>) -> tensor<5x7xf32>",
     "tensor<5x7xf32>", 2,
     [](std::vector<HostTensor> &a) { setIds(a[1], {3}); }},
    {"cross_entropy",
     "%z: tensor<4x6xf32> {tg.trainable}, %labels: tensor<4xi64>",
     "%y, %lse = tg.cross_entropy %z, %labels : (tensor<4x6xf32>, "
     "tensor<4xi64>) "
     "-> (tensor<f32>, tensor<4xf32>)",
     "tensor<f32>", 0,
     [](std::vector<HostTensor> &a) {
       setIds(a[1], {2, -100, 5, 0});
     }},
    {"cross_entropy_weighted",
     "%z: tensor<4x6xf32> {tg.trainable}, %labels: tensor<4xi64>, "
     "%w: tensor<4xf32>",
     "%y, %lse = tg.cross_entropy %z, %labels, %w : (tensor<4x6xf32>, "
     "tensor<4xi64>, tensor<4xf32>) -> (tensor<f32>, tensor<4xf32>)",
     "tensor<f32>", 0,
     [](std::vector<HostTensor> &a) { setIds(a[1], {2, -100, 5, 0}); }},
    // Rows of 4 tokens: position t is scored against label t + 1; chunks of
    // 3 cross the row boundary.
    {"linear_cross_entropy",
     "%h: tensor<2x4x5xf32> {tg.trainable}, %w: tensor<7x5xf32> "
     "{tg.trainable}, %labels: tensor<2x4xi64>",
     "%y, %lse = tg.linear_cross_entropy %h, %w, %labels {chunk_tokens = 3 : "
     "i64} : (tensor<2x4x5xf32>, tensor<7x5xf32>, tensor<2x4xi64>) -> "
     "(tensor<f32>, tensor<2x4xf32>)",
     "tensor<f32>", 0,
     [](std::vector<HostTensor> &a) {
       setIds(a[2], {1, 2, -100, 6, 0, 3, 4, 5});
     }},
    {"linear_cross_entropy_weighted",
     "%h: tensor<2x4x5xf32> {tg.trainable}, %w: tensor<7x5xf32> "
     "{tg.trainable}, %labels: tensor<2x4xi64>, %lw: tensor<2x4xf32>",
     "%y, %lse = tg.linear_cross_entropy %h, %w, %labels, %lw {chunk_tokens "
     "= 2 : i64} : (tensor<2x4x5xf32>, tensor<7x5xf32>, tensor<2x4xi64>, "
     "tensor<2x4xf32>) -> (tensor<f32>, tensor<2x4xf32>)",
     "tensor<f32>", 0,
     [](std::vector<HostTensor> &a) {
       setIds(a[2], {1, 2, -100, 6, 0, 3, 4, 5});
     }},
};

INSTANTIATE_TEST_SUITE_P(Ops, GradientCheck, ::testing::ValuesIn(cases),
                         [](const auto &info) { return info.param.name; });

} // namespace
