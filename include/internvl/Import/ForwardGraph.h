//===- ForwardGraph.h - InternVL forward pass as a tg function --*- C++ -*-===//

#ifndef INTERNVL_IMPORT_FORWARDGRAPH_H
#define INTERNVL_IMPORT_FORWARDGRAPH_H

#include "internvl/Import/ImportOptions.h"
#include "internvl/Import/ModelConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace internvl {

/// Builds a module holding `func.func @forward(inputs..., params...) -> loss`:
/// InternViT (patch embedding, class token, position embedding, the layers up
/// to the selected one), class token dropped, pixel shuffle, the MLP
/// projector, image embeddings scattered into the IMG_CONTEXT positions, the
/// LLM and the shifted cross-entropy. Every parameter is an argument named
/// after its Hugging Face parameter; every op carries its module path in
/// `tg.scope`. `shape` must come from `computeImportShape` on the same config
/// and options.
mlir::OwningOpRef<mlir::ModuleOp>
buildForwardModule(mlir::MLIRContext &context, const ModelConfig &config,
                   const ImportOptions &options, const ImportShape &shape);

} // namespace internvl

#endif // INTERNVL_IMPORT_FORWARDGRAPH_H
