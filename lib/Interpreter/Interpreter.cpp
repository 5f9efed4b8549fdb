//===- Interpreter.cpp - run a tg function on the CPU runtime -------------===//
//
// A straight walk over the function body: each op allocates its results
// from their types and calls the runtime kernel of the same C API the
// compiled step calls, so the interpreter and the compiled CPU step compute
// the same bits.
//
//===----------------------------------------------------------------------===//

#include "internvl/Interpreter/Interpreter.h"
#include "internvl/Dialect/TG/Analysis/BufferAnalysis.h"
#include "internvl/Dialect/TG/IR/TGOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cstring>

using namespace mlir;
using namespace internvl;

/// The values each op of `body` uses for the last time (those the
/// terminator uses die there).
static llvm::DenseMap<Operation *, SmallVector<Value>>
valuesDyingAt(Block &body) {
  llvm::DenseMap<Value, Operation *> lastUse;
  for (Operation &op : body)
    for (Value v : op.getOperands())
      lastUse[v] = &op;
  llvm::DenseMap<Operation *, SmallVector<Value>> dies;
  for (auto &[v, op] : lastUse)
    dies[op].push_back(v);
  return dies;
}

namespace {

class Executor {
public:
  explicit Executor(func::FuncOp func)
      : func(func), ctx(ivl_context_create()) {}
  ~Executor() { ivl_context_destroy(ctx); }

  llvm::Expected<std::vector<HostTensor>> run(ArrayRef<HostTensor> args);

private:
  llvm::Error execute(Operation *op);

  HostTensor &get(Value v) { return values[v]; }
  ivl_tensor in(Value v) { return values[v].view(); }

  /// Allocates the result `i` of `op`.
  llvm::Expected<HostTensor> allocate(Value result) {
    auto type = cast<RankedTensorType>(result.getType());
    llvm::Expected<ivl_dtype> dtype = runtimeType(type.getElementType());
    if (!dtype)
      return dtype.takeError();
    return HostTensor::allocate(
        *dtype,
        std::vector<int64_t>(type.getShape().begin(), type.getShape().end()));
  }

  /// Turns a kernel status into an llvm::Error naming the op.
  llvm::Error check(Operation *op, ivl_status status) {
    if (status == IVL_OK)
      return llvm::Error::success();
    std::string where;
    llvm::raw_string_ostream os(where);
    os << op->getName();
    if (auto scope =
            op->getAttrOfType<StringAttr>(tg::TGDialect::getScopeAttrName()))
      os << " (" << scope.getValue() << ")";
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   where + ": " + ivl_last_error(ctx));
  }

  func::FuncOp func;
  ivl_context *ctx;
  llvm::DenseMap<Value, HostTensor> values;
};

llvm::Expected<std::vector<HostTensor>>
Executor::run(ArrayRef<HostTensor> args) {
  Block &body = func.getBody().front();
  if (args.size() != body.getNumArguments())
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(), "@%s takes %u arguments, got %zu",
        func.getName().str().c_str(), body.getNumArguments(), args.size());
  for (auto [arg, value] : llvm::zip(body.getArguments(), args))
    values[arg] = value;

  // Free each value after its last use.
  llvm::DenseMap<Operation *, SmallVector<Value>> dies = valuesDyingAt(body);

  for (Operation &op : body.without_terminator()) {
    if (llvm::Error e = execute(&op))
      return std::move(e);
    for (Value v : dies.lookup(&op))
      values.erase(v);
  }
  std::vector<HostTensor> results;
  for (Value v : body.getTerminator()->getOperands())
    results.push_back(values[v]);
  return results;
}

llvm::Error Executor::execute(Operation *op) {
  // Results first: every kernel writes into caller-owned memory.
  // One rank only: the collectives of a data-parallel step need their
  // peers (run such a step compiled, under mpirun).
  if (auto world = op->getAttrOfType<IntegerAttr>("world_size");
      world && world.getInt() != 1)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "internvl-run runs one rank, and '" +
            op->getName().getStringRef().str() + "' communicates across " +
            std::to_string(world.getInt()) +
            " ranks: compile the step (internvl-compile) and start it with "
            "mpirun");
  SmallVector<HostTensor> outs;
  for (Value r : op->getResults()) {
    if (isa<tg::ReshapeOp, tg::CommWaitOp>(op))
      break;
    llvm::Expected<HostTensor> t = allocate(r);
    if (!t)
      return t.takeError();
    outs.push_back(*t);
  }
  SmallVector<ivl_tensor> o;
  for (HostTensor &t : outs)
    o.push_back(t.view());

  bool unsupported = false;
  auto binary = [&](ivl_binary_kind kind) {
    ivl_tensor a = in(op->getOperand(0)), b = in(op->getOperand(1));
    return ivl_binary(ctx, kind, &a, &b, &o[0]);
  };
  auto unary = [&](ivl_unary_kind kind, double param) {
    ivl_tensor a = in(op->getOperand(0));
    return ivl_unary(ctx, kind, &a, param, &o[0]);
  };

  ivl_status status =
      llvm::TypeSwitch<Operation *, ivl_status>(op)
          .Case([&](tg::FillOp f) {
            return ivl_fill(ctx, &o[0], f.getValue().convertToDouble());
          })
          .Case([&](tg::AddOp) { return binary(IVL_ADD); })
          .Case([&](tg::SubOp) { return binary(IVL_SUB); })
          .Case([&](tg::MulOp) { return binary(IVL_MUL); })
          .Case([&](tg::DivOp) { return binary(IVL_DIV); })
          .Case([&](tg::NegOp) { return unary(IVL_NEG, 0); })
          .Case([&](tg::ScaleOp s) {
            return unary(IVL_SCALE, s.getFactor().convertToDouble());
          })
          .Case([&](tg::CastOp) { return unary(IVL_CAST, 0); })
          .Case([&](tg::GeluOp g) {
            return unary(IVL_GELU,
                         g.getApproximate() == tg::GeluApproximation::Tanh ? 1
                                                                           : 0);
          })
          .Case([&](tg::SiluOp) { return unary(IVL_SILU, 0); })
          .Case([&](tg::GeluGradOp g) {
            ivl_tensor dy = in(g.getGrad()), x = in(g.getInput());
            return ivl_activation_grad(
                ctx, IVL_GELU, &dy, &x,
                g.getApproximate() == tg::GeluApproximation::Tanh ? 1 : 0,
                &o[0]);
          })
          .Case([&](tg::SiluGradOp g) {
            ivl_tensor dy = in(g.getGrad()), x = in(g.getInput());
            return ivl_activation_grad(ctx, IVL_SILU, &dy, &x, 0, &o[0]);
          })
          .Case([&](tg::LinearOp l) {
            ivl_tensor x = in(l.getInput()), w = in(l.getWeight()), b;
            if (l.getBias())
              b = in(l.getBias());
            return ivl_linear(ctx, &x, &w, l.getBias() ? &b : nullptr, &o[0]);
          })
          .Case([&](tg::MatmulOp m) {
            ivl_tensor a = in(m.getLhs()), b = in(m.getRhs());
            return ivl_matmul(ctx, &a, &b, m.getTransposeLhs(),
                              m.getTransposeRhs(), &o[0]);
          })
          .Case([&](tg::ReshapeOp r) {
            auto type = cast<RankedTensorType>(r.getType());
            values[r.getResult()] =
                get(r.getInput())
                    .reshaped(std::vector<int64_t>(type.getShape().begin(),
                                                   type.getShape().end()));
            return IVL_OK;
          })
          .Case([&](tg::TransposeOp t) {
            ivl_tensor x = in(t.getInput());
            return ivl_transpose(ctx, &x, t.getPermutation().data(), &o[0]);
          })
          .Case([&](tg::BroadcastOp bc) {
            ivl_tensor x = in(bc.getInput());
            return ivl_broadcast(ctx, &x, &o[0]);
          })
          .Case([&](tg::ConcatOp c) {
            SmallVector<ivl_tensor> inputs;
            for (Value v : c.getInputs())
              inputs.push_back(in(v));
            return ivl_concat(ctx, inputs.data(), inputs.size(), c.getDim(),
                              &o[0]);
          })
          .Case([&](tg::SliceOp s) {
            ivl_tensor x = in(s.getInput());
            return ivl_slice(ctx, &x, s.getOffsets().data(), &o[0]);
          })
          .Case([&](tg::PadOp p) {
            ivl_tensor x = in(p.getInput());
            return ivl_pad(ctx, &x, p.getLow().data(), &o[0]);
          })
          .Case([&](tg::ReduceSumOp r) {
            ivl_tensor x = in(r.getInput());
            return ivl_reduce_sum(ctx, &x, r.getDims().data(),
                                  r.getDims().size(), &o[0]);
          })
          .Case([&](tg::PixelShuffleOp p) {
            ivl_tensor x = in(p.getInput());
            return ivl_pixel_shuffle(
                ctx, &x, p.getScaleFactor().convertToDouble(),
                p.getVersion() == tg::PixelShuffleVersion::V1 ? 1 : 2, &o[0]);
          })
          .Case([&](tg::LayerNormOp n) {
            ivl_tensor x = in(n.getInput()), w = in(n.getWeight()),
                       b = in(n.getBias());
            return ivl_layer_norm(ctx, &x, &w, &b,
                                  n.getEpsilon().convertToDouble(), &o[0],
                                  &o[1], &o[2]);
          })
          .Case([&](tg::LayerNormGradOp n) {
            ivl_tensor dy = in(n.getGrad()), x = in(n.getInput()),
                       w = in(n.getWeight()), m = in(n.getMean()),
                       r = in(n.getRstd());
            return ivl_layer_norm_grad(ctx, &dy, &x, &w, &m, &r, &o[0], &o[1],
                                       &o[2]);
          })
          .Case([&](tg::RmsNormOp n) {
            ivl_tensor x = in(n.getInput()), w = in(n.getWeight());
            return ivl_rms_norm(ctx, &x, &w, n.getEpsilon().convertToDouble(),
                                &o[0], &o[1]);
          })
          .Case([&](tg::RmsNormGradOp n) {
            ivl_tensor dy = in(n.getGrad()), x = in(n.getInput()),
                       w = in(n.getWeight()), r = in(n.getRstd());
            return ivl_rms_norm_grad(ctx, &dy, &x, &w, &r, &o[0], &o[1]);
          })
          .Case([&](tg::AttentionOp a) {
            ivl_tensor q = in(a.getQuery()), k = in(a.getKey()),
                       v = in(a.getValue());
            return ivl_attention(ctx, &q, &k, &v, a.getCausal(),
                                 a.getScale().convertToDouble(), &o[0], &o[1]);
          })
          .Case([&](tg::AttentionGradOp a) {
            ivl_tensor g = in(a.getGrad()), q = in(a.getQuery()),
                       k = in(a.getKey()), v = in(a.getValue()),
                       out = in(a.getOutput()), l = in(a.getLogsumexp());
            return ivl_attention_grad(
                ctx, &g, &q, &k, &v, &out, &l, a.getCausal(),
                a.getScale().convertToDouble(), &o[0], &o[1], &o[2]);
          })
          .Case([&](tg::RopeOp r) {
            ivl_tensor x = in(r.getInput());
            std::optional<ArrayRef<double>> factors = r.getFreqFactors();
            return ivl_rope(ctx, &x, r.getTheta().convertToDouble(),
                            factors ? factors->data() : nullptr,
                            r.getAttentionFactor().convertToDouble(),
                            r.getInverse(), &o[0]);
          })
          .Case([&](tg::EmbeddingOp e) {
            ivl_tensor t = in(e.getTable()), ids = in(e.getIndices());
            return ivl_embedding(ctx, &t, &ids, &o[0]);
          })
          .Case([&](tg::EmbeddingGradOp e) {
            ivl_tensor g = in(e.getGrad()), ids = in(e.getIndices());
            return ivl_embedding_grad(ctx, &g, &ids, &o[0]);
          })
          .Case([&](tg::ScatterImageEmbedsOp s) {
            ivl_tensor e = in(s.getEmbeds()), ids = in(s.getInputIds()),
                       img = in(s.getImageEmbeds());
            return ivl_scatter_image_embeds(
                ctx, &e, &ids, &img, static_cast<int64_t>(s.getImageTokenId()),
                &o[0]);
          })
          .Case([&](tg::GatherImageEmbedsOp s) {
            ivl_tensor g = in(s.getGrad()), ids = in(s.getInputIds());
            return ivl_gather_image_embeds(
                ctx, &g, &ids, static_cast<int64_t>(s.getImageTokenId()),
                &o[0]);
          })
          .Case([&](tg::MaskImagePositionsOp s) {
            ivl_tensor g = in(s.getGrad()), ids = in(s.getInputIds());
            return ivl_mask_image_positions(
                ctx, &g, &ids, static_cast<int64_t>(s.getImageTokenId()),
                &o[0]);
          })
          .Case([&](tg::DropPathOp d) {
            ivl_tensor x = in(d.getInput()), step = in(d.getStep());
            return ivl_drop_path(ctx, &x, &step, d.getRate().convertToDouble(),
                                 static_cast<int64_t>(d.getSeed()),
                                 static_cast<int64_t>(d.getOffset()), &o[0]);
          })
          .Case([&](tg::CrossEntropyOp c) {
            ivl_tensor l = in(c.getLogits()), y = in(c.getLabels());
            return ivl_cross_entropy(ctx, &l, &y,
                                     static_cast<int64_t>(c.getIgnoreIndex()),
                                     &o[0], &o[1]);
          })
          .Case([&](tg::CrossEntropyGradOp c) {
            ivl_tensor g = in(c.getGrad()), l = in(c.getLogits()),
                       y = in(c.getLabels()), lse = in(c.getLogsumexp());
            return ivl_cross_entropy_grad(
                ctx, &g, &l, &y, &lse, static_cast<int64_t>(c.getIgnoreIndex()),
                &o[0]);
          })
          .Case([&](tg::GlobalNormOp n) {
            SmallVector<ivl_tensor> grads;
            for (Value v : n.getGrads())
              grads.push_back(in(v));
            return n.getAcrossRanks()
                       ? ivl_global_norm_across_ranks(ctx, grads.data(),
                                                      grads.size(), &o[0])
                       : ivl_global_norm(ctx, grads.data(), grads.size(),
                                         &o[0]);
          })
          .Case([&](tg::ClipScaleOp c) {
            ivl_tensor n = in(c.getNorm());
            return ivl_clip_scale(ctx, &n, c.getMaxNorm().convertToDouble(),
                                  &o[0]);
          })
          .Case([&](tg::AdamWOp a) {
            ivl_tensor w = in(a.getMaster()), m = in(a.getExpAvg()),
                       v = in(a.getExpAvgSq()), g = in(a.getGrad()),
                       s = in(a.getGradScale()), t = in(a.getStep());
            return ivl_adamw(
                ctx, &w, &m, &v, &g, &s, &t, a.getLr().convertToDouble(),
                a.getBeta1().convertToDouble(), a.getBeta2().convertToDouble(),
                a.getEpsilon().convertToDouble(),
                a.getWeightDecay().convertToDouble(), &o[0], &o[1], &o[2],
                &o[3]);
          })
          .Case([&](tg::CommWaitOp w) {
            for (auto [r, v] : llvm::zip(w.getResults(), w.getInputs())) {
              // Copy first: inserting may move the map's entries.
              HostTensor t = get(v);
              values[r] = t;
            }
            return IVL_OK;
          })
          .Case([&](tg::AllReduceMeanOp a) {
            // In place on the results, which start as the operands.
            int64_t n = 0;
            for (auto [k, v] : llvm::enumerate(a.getInputs())) {
              std::memcpy(o[k].data, get(v).data(), get(v).bytes());
              n += get(v).numel();
            }
            HostTensor buffer = HostTensor::allocate(IVL_F32, {n});
            return ivl_all_reduce_mean(ctx, o.data(), o.size(), buffer.data(),
                                       buffer.bytes());
          })
          .Case([&](tg::ReduceScatterMeanOp r) {
            SmallVector<ivl_tensor> inputs;
            for (Value v : r.getInputs())
              inputs.push_back(in(v));
            HostTensor buffer = HostTensor::allocate(
                IVL_I1, {tg::collectiveBufferBytes(op)});
            return ivl_reduce_scatter_mean(ctx, inputs.data(), inputs.size(),
                                           buffer.data(), buffer.bytes(),
                                           &o[0]);
          })
          .Case([&](tg::AllGatherOp g) {
            ivl_tensor shard = in(g.getShard());
            HostTensor buffer = HostTensor::allocate(
                IVL_I1, {tg::collectiveBufferBytes(op)});
            return ivl_all_gather(ctx, &shard, buffer.data(), buffer.bytes(),
                                  o.data(), o.size());
          })
          .Case([&](tg::ShardAdamWOp a) {
            ivl_tensor w = in(a.getMaster()), m = in(a.getExpAvg()),
                       v = in(a.getExpAvgSq()), g = in(a.getGrad()),
                       s = in(a.getGradScale()), t = in(a.getStep());
            SmallVector<uint8_t> decay(a.getDecay().begin(),
                                       a.getDecay().end());
            return ivl_shard_adamw(
                ctx, &w, &m, &v, &g, &s, &t, a.getLr().convertToDouble(),
                a.getBeta1().convertToDouble(), a.getBeta2().convertToDouble(),
                a.getEpsilon().convertToDouble(),
                a.getWeightDecay().convertToDouble(), a.getSegments().data(),
                decay.data(), a.getSegments().size(), &o[0], &o[1], &o[2],
                &o[3]);
          })
          .Default([&](Operation *) {
            unsupported = true;
            return IVL_ERROR_INVALID_ARGUMENT;
          });
  if (unsupported)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "internvl-run cannot execute '" +
                                       op->getName().getStringRef().str() +
                                       "': it has no CPU runtime kernel");
  if (llvm::Error e = check(op, status))
    return e;
  if (!isa<tg::ReshapeOp, tg::CommWaitOp>(op))
    for (auto [r, t] : llvm::zip(op->getResults(), outs))
      values[r] = t;
  return llvm::Error::success();
}

} // namespace

llvm::Expected<std::vector<HostTensor>>
internvl::interpret(func::FuncOp func, ArrayRef<HostTensor> args) {
  return Executor(func).run(args);
}

static std::string shapeText(const std::vector<int64_t> &shape,
                             ivl_dtype dtype) {
  std::string s;
  for (int64_t d : shape)
    s += std::to_string(d) + "x";
  return s + dtypeName(dtype).str();
}

llvm::Expected<std::vector<HostTensor>>
internvl::makeArguments(func::FuncOp func, uint64_t seed,
                        const llvm::StringMap<HostTensor> &provided,
                        llvm::StringSet<> *used) {
  std::vector<ArgSpec> specs = argumentSpecs(func);
  BatchSpec batch = batchSpec(func);
  std::vector<HostTensor> args(specs.size());
  llvm::StringMap<HostTensor> params;
  auto obtain = [&](const ArgSpec &spec) -> llvm::Expected<HostTensor> {
    auto it = provided.find(spec.name);
    if (it == provided.end())
      return generateArgument(spec, batch, seed, params);
    if (used)
      used->insert(spec.name);
    if (it->second.shape != spec.shape)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "input '" + spec.name + "' has shape " +
              shapeText(it->second.shape, it->second.dtype) +
              ", the argument is " + shapeText(spec.shape, spec.dtype));
    llvm::Expected<HostTensor> converted = convertTensor(it->second, spec.dtype);
    if (!converted)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "input '" + spec.name + "': " +
                                         llvm::toString(converted.takeError()));
    return converted;
  };
  // Parameters ZeRO stage 3 keeps as shards come first (the shards are made
  // from them), then the parameters, from which master copies start.
  for (const ArgSpec &spec : zeroParameterSpecs(func)) {
    llvm::Expected<HostTensor> value = obtain(spec);
    if (!value)
      return value.takeError();
    params[spec.name] = *value;
  }
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < specs.size(); ++i) {
      const ArgSpec &spec = specs[i];
      if ((spec.kind == "param") != (pass == 0))
        continue;
      llvm::Expected<HostTensor> value = obtain(spec);
      if (!value)
        return value.takeError();
      args[i] = *value;
      if (spec.kind == "param")
        params[spec.name] = args[i];
    }
  return args;
}

int64_t internvl::interpreterPeakBytes(func::FuncOp func) {
  Block &body = func.getBody().front();
  // Views (reshape, comm_wait) share their operand's storage: a storage is
  // freed when the last value using it dies, as HostTensor's shared_ptr is.
  llvm::DenseMap<Value, Value> storageOf;
  llvm::DenseMap<Value, int64_t> users; // storage -> live values using it
  llvm::DenseMap<Operation *, SmallVector<Value>> dies = valuesDyingAt(body);
  int64_t live = 0, peak = 0;
  for (Operation &op : body.without_terminator()) {
    bool view = isa<tg::ReshapeOp, tg::CommWaitOp>(op);
    for (auto [i, r] : llvm::enumerate(op.getResults())) {
      Value storage = view ? storageOf.lookup(op.getOperand(i)) : r;
      storageOf[r] = storage;
      if (!storage)
        continue; // a view of an argument
      if (users[storage]++ == 0)
        live += tg::tensorBytes(storage.getType());
    }
    peak = std::max(peak, live);
    for (Value v : dies.lookup(&op)) {
      Value storage = storageOf.lookup(v);
      if (storage && --users[storage] == 0)
        live -= tg::tensorBytes(storage.getType());
    }
  }
  return peak;
}
