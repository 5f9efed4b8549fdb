// RUN: internvl-opt %s | internvl-opt | FileCheck %s
// RUN: internvl-opt %s --mlir-print-op-generic | internvl-opt | FileCheck %s
// Round trip of every tg op through the custom and the generic form.

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x8x64xbf16>, %b: tensor<64xbf16>) -> tensor<2x8x64xf32> {
  // CHECK: %[[ONE:.*]] = tg.fill 1.000000e+00 : tensor<f32>
  %one = tg.fill 1.0 : tensor<f32>
  // CHECK: %[[ADD:.*]] = tg.add %{{.*}}, %{{.*}} {tg.scope = "vision_model.encoder.layers.0"} : tensor<2x8x64xbf16>, tensor<64xbf16> -> tensor<2x8x64xbf16>
  %add = tg.add %a, %b {tg.scope = "vision_model.encoder.layers.0"} : tensor<2x8x64xbf16>, tensor<64xbf16> -> tensor<2x8x64xbf16>
  // CHECK: tg.sub %[[ADD]], %{{.*}} : tensor<2x8x64xbf16>, tensor<2x8x64xbf16> -> tensor<2x8x64xbf16>
  %sub = tg.sub %add, %a : tensor<2x8x64xbf16>, tensor<2x8x64xbf16> -> tensor<2x8x64xbf16>
  // CHECK: tg.mul
  %mul = tg.mul %sub, %b : tensor<2x8x64xbf16>, tensor<64xbf16> -> tensor<2x8x64xbf16>
  // CHECK: tg.div
  %div = tg.div %mul, %a : tensor<2x8x64xbf16>, tensor<2x8x64xbf16> -> tensor<2x8x64xbf16>
  // CHECK: tg.neg %{{.*}} : tensor<2x8x64xbf16>
  %neg = tg.neg %div : tensor<2x8x64xbf16>
  // CHECK: tg.scale %{{.*}} {factor = 5.000000e-01 : f64} : tensor<2x8x64xbf16>
  %scale = tg.scale %neg {factor = 0.5 : f64} : tensor<2x8x64xbf16>
  // CHECK: %[[GELU:.*]] = tg.gelu %{{.*}} : tensor<2x8x64xbf16>
  %gelu = tg.gelu %scale : tensor<2x8x64xbf16>
  // CHECK: tg.gelu %[[GELU]] approximate = tanh : tensor<2x8x64xbf16>
  %gelu_tanh = tg.gelu %gelu approximate = tanh : tensor<2x8x64xbf16>
  // CHECK: tg.gelu_grad %{{.*}}, %{{.*}} approximate = tanh : tensor<2x8x64xbf16>
  %dgelu = tg.gelu_grad %gelu_tanh, %gelu approximate = tanh : tensor<2x8x64xbf16>
  // CHECK: tg.silu %{{.*}} : tensor<2x8x64xbf16>
  %silu = tg.silu %dgelu : tensor<2x8x64xbf16>
  // CHECK: tg.silu_grad %{{.*}}, %{{.*}} : tensor<2x8x64xbf16>
  %dsilu = tg.silu_grad %silu, %dgelu : tensor<2x8x64xbf16>
  // CHECK: tg.cast %{{.*}} : tensor<2x8x64xbf16> -> tensor<2x8x64xf32>
  %cast = tg.cast %dsilu : tensor<2x8x64xbf16> -> tensor<2x8x64xf32>
  return %cast : tensor<2x8x64xf32>
}

// CHECK-LABEL: func.func @products
func.func @products(%x: tensor<2x16x64xbf16>, %w: tensor<32x64xbf16>, %b: tensor<32xbf16>) -> tensor<32x64xbf16> {
  // CHECK: %[[Y:.*]] = tg.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x16x64xbf16>, tensor<32x64xbf16>, tensor<32xbf16>) -> tensor<2x16x32xbf16>
  %y = tg.linear %x, %w, %b : (tensor<2x16x64xbf16>, tensor<32x64xbf16>, tensor<32xbf16>) -> tensor<2x16x32xbf16>
  // CHECK: tg.linear %{{.*}}, %{{.*}} : (tensor<2x16x64xbf16>, tensor<32x64xbf16>) -> tensor<2x16x32xbf16>
  %y2 = tg.linear %x, %w : (tensor<2x16x64xbf16>, tensor<32x64xbf16>) -> tensor<2x16x32xbf16>
  // CHECK: tg.matmul %[[Y]], %{{.*}} : (tensor<2x16x32xbf16>, tensor<32x64xbf16>) -> tensor<2x16x64xbf16>
  %dx = tg.matmul %y, %w : (tensor<2x16x32xbf16>, tensor<32x64xbf16>) -> tensor<2x16x64xbf16>
  %y_rows = tg.reshape %y2 : tensor<2x16x32xbf16> -> tensor<32x32xbf16>
  %x_rows = tg.reshape %x : tensor<2x16x64xbf16> -> tensor<32x64xbf16>
  // CHECK: tg.matmul %{{.*}}, %{{.*}} {transpose_lhs} : (tensor<32x32xbf16>, tensor<32x64xbf16>) -> tensor<32x64xbf16>
  %dw = tg.matmul %y_rows, %x_rows {transpose_lhs} : (tensor<32x32xbf16>, tensor<32x64xbf16>) -> tensor<32x64xbf16>
  // CHECK: tg.matmul %{{.*}}, %{{.*}} {transpose_rhs} : (tensor<2x16x64xbf16>, tensor<2x16x64xbf16>) -> tensor<2x16x16xbf16>
  %scores = tg.matmul %dx, %x {transpose_rhs} : (tensor<2x16x64xbf16>, tensor<2x16x64xbf16>) -> tensor<2x16x16xbf16>
  return %dw : tensor<32x64xbf16>
}

// CHECK-LABEL: func.func @data_movement
func.func @data_movement(%x: tensor<7x1025x64xbf16>, %cls: tensor<1x1x64xbf16>) -> tensor<64xf32> {
  // CHECK: tg.reshape %{{.*}} : tensor<7x1025x64xbf16> -> tensor<7x1025x4x16xbf16>
  %r = tg.reshape %x : tensor<7x1025x64xbf16> -> tensor<7x1025x4x16xbf16>
  // CHECK: tg.transpose %{{.*}} {permutation = array<i64: 0, 2, 1, 3>} : tensor<7x1025x4x16xbf16> -> tensor<7x4x1025x16xbf16>
  %t = tg.transpose %r {permutation = array<i64: 0, 2, 1, 3>} : tensor<7x1025x4x16xbf16> -> tensor<7x4x1025x16xbf16>
  // CHECK: tg.slice %{{.*}} {offsets = array<i64: 0, 1, 0>} : tensor<7x1025x64xbf16> -> tensor<7x1024x64xbf16>
  %s = tg.slice %x {offsets = array<i64: 0, 1, 0>} : tensor<7x1025x64xbf16> -> tensor<7x1024x64xbf16>
  // CHECK: tg.pad %{{.*}} {high = array<i64: 0, 0, 0>, low = array<i64: 0, 1, 0>} : tensor<7x1024x64xbf16> -> tensor<7x1025x64xbf16>
  %p = tg.pad %s {low = array<i64: 0, 1, 0>, high = array<i64: 0, 0, 0>} : tensor<7x1024x64xbf16> -> tensor<7x1025x64xbf16>
  // CHECK: tg.broadcast %{{.*}} : tensor<1x1x64xbf16> -> tensor<7x1x64xbf16>
  %bc = tg.broadcast %cls : tensor<1x1x64xbf16> -> tensor<7x1x64xbf16>
  // CHECK: tg.concat %{{.*}}, %{{.*}} {dim = 1 : i64} : (tensor<7x1x64xbf16>, tensor<7x1024x64xbf16>) -> tensor<7x1025x64xbf16>
  %c = tg.concat %bc, %s {dim = 1 : i64} : (tensor<7x1x64xbf16>, tensor<7x1024x64xbf16>) -> tensor<7x1025x64xbf16>
  %grid = tg.reshape %s : tensor<7x1024x64xbf16> -> tensor<7x32x32x64xbf16>
  // CHECK: tg.pixel_shuffle %{{.*}} {scale_factor = 5.000000e-01 : f64, version = #tg<ps_version v2>} : tensor<7x32x32x64xbf16> -> tensor<7x16x16x256xbf16>
  %ps = tg.pixel_shuffle %grid {scale_factor = 0.5 : f64, version = #tg<ps_version v2>} : tensor<7x32x32x64xbf16> -> tensor<7x16x16x256xbf16>
  // CHECK: tg.reduce_sum %{{.*}} {dims = array<i64: 0, 1>} : tensor<7x1025x64xbf16> -> tensor<64xf32>
  %sum = tg.reduce_sum %c {dims = array<i64: 0, 1>} : tensor<7x1025x64xbf16> -> tensor<64xf32>
  // CHECK: tg.reduce_sum %{{.*}} {dims = array<i64: 0>, keep_dims} : tensor<7x1025x64xbf16> -> tensor<1x1025x64xbf16>
  %keep = tg.reduce_sum %p {dims = array<i64: 0>, keep_dims} : tensor<7x1025x64xbf16> -> tensor<1x1025x64xbf16>
  return %sum : tensor<64xf32>
}

// CHECK-LABEL: func.func @norms
func.func @norms(%x: tensor<2x8x64xbf16>, %w: tensor<64xbf16>, %b: tensor<64xbf16>, %dy: tensor<2x8x64xbf16>) {
  // CHECK: %{{.*}}, %[[MEAN:.*]], %[[RSTD:.*]] = tg.layer_norm %{{.*}}, %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : (tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<64xbf16>) -> (tensor<2x8x64xbf16>, tensor<2x8xf32>, tensor<2x8xf32>)
  %y, %mean, %rstd = tg.layer_norm %x, %w, %b {epsilon = 1.0e-6 : f64} : (tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<64xbf16>) -> (tensor<2x8x64xbf16>, tensor<2x8xf32>, tensor<2x8xf32>)
  // CHECK: tg.layer_norm_grad %{{.*}}, %{{.*}}, %{{.*}}, %[[MEAN]], %[[RSTD]] : (tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<2x8xf32>, tensor<2x8xf32>) -> (tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<64xbf16>)
  %dx, %dw, %db = tg.layer_norm_grad %dy, %x, %w, %mean, %rstd : (tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<2x8xf32>, tensor<2x8xf32>) -> (tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<64xbf16>)
  // CHECK: %{{.*}}, %[[RRSTD:.*]] = tg.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.9999999999999995E-7 : f64} : (tensor<2x8x64xbf16>, tensor<64xbf16>) -> (tensor<2x8x64xbf16>, tensor<2x8xf32>)
  %z, %zrstd = tg.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : (tensor<2x8x64xbf16>, tensor<64xbf16>) -> (tensor<2x8x64xbf16>, tensor<2x8xf32>)
  // CHECK: tg.rms_norm_grad %{{.*}}, %{{.*}}, %{{.*}}, %[[RRSTD]] : (tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<2x8xf32>) -> (tensor<2x8x64xbf16>, tensor<64xbf16>)
  %dz, %dzw = tg.rms_norm_grad %dy, %x, %w, %zrstd : (tensor<2x8x64xbf16>, tensor<2x8x64xbf16>, tensor<64xbf16>, tensor<2x8xf32>) -> (tensor<2x8x64xbf16>, tensor<64xbf16>)
  return
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>, %v: tensor<2x16x2x8xbf16>) {
  // CHECK: %[[Q:.*]] = tg.rope %{{.*}} {theta = 1.000000e+06 : f64} : tensor<2x16x4x8xbf16>
  %qr = tg.rope %q {theta = 1.0e6 : f64} : tensor<2x16x4x8xbf16>
  // CHECK: tg.rope %{{.*}} {attention_factor = 1.100000e+00 : f64, freq_factors = array<f64: 1.000000e+00, 2.000000e+00, 4.000000e+00, 8.000000e+00>, inverse, theta = 5.000000e+05 : f64} : tensor<2x16x2x8xbf16>
  %kr = tg.rope %k {theta = 5.0e5 : f64, inverse, freq_factors = array<f64: 1.0, 2.0, 4.0, 8.0>, attention_factor = 1.1 : f64} : tensor<2x16x2x8xbf16>
  // CHECK: %[[O:.*]], %[[LSE:.*]] = tg.attention %[[Q]], %{{.*}}, %{{.*}} {causal, scale = 3.535530e-01 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  %o, %lse = tg.attention %qr, %kr, %v {causal, scale = 0.353553 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  // CHECK: tg.attention_grad %[[O]], %[[Q]], %{{.*}}, %{{.*}}, %[[O]], %[[LSE]] {causal, scale = 3.535530e-01 : f64}
  %dq, %dk, %dv = tg.attention_grad %o, %qr, %kr, %v, %o, %lse {causal, scale = 0.353553 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>) -> (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>)
  return
}

// CHECK-LABEL: func.func @multimodal
func.func @multimodal(%table: tensor<100x32xbf16>, %ids: tensor<2x24xi64>, %img: tensor<16x32xbf16>, %step: tensor<i64>) {
  // CHECK: %[[E:.*]] = tg.embedding %{{.*}}, %{{.*}} : (tensor<100x32xbf16>, tensor<2x24xi64>) -> tensor<2x24x32xbf16>
  %e = tg.embedding %table, %ids : (tensor<100x32xbf16>, tensor<2x24xi64>) -> tensor<2x24x32xbf16>
  // CHECK: %[[S:.*]] = tg.scatter_image_embeds %[[E]], %{{.*}}, %{{.*}} {image_token_id = 99 : i64} : (tensor<2x24x32xbf16>, tensor<2x24xi64>, tensor<16x32xbf16>) -> tensor<2x24x32xbf16>
  %s = tg.scatter_image_embeds %e, %ids, %img {image_token_id = 99 : i64} : (tensor<2x24x32xbf16>, tensor<2x24xi64>, tensor<16x32xbf16>) -> tensor<2x24x32xbf16>
  // CHECK: tg.gather_image_embeds %[[S]], %{{.*}} {image_token_id = 99 : i64} : (tensor<2x24x32xbf16>, tensor<2x24xi64>) -> tensor<16x32xbf16>
  %dimg = tg.gather_image_embeds %s, %ids {image_token_id = 99 : i64} : (tensor<2x24x32xbf16>, tensor<2x24xi64>) -> tensor<16x32xbf16>
  // CHECK: %[[M:.*]] = tg.mask_image_positions %[[S]], %{{.*}} {image_token_id = 99 : i64} : (tensor<2x24x32xbf16>, tensor<2x24xi64>) -> tensor<2x24x32xbf16>
  %de = tg.mask_image_positions %s, %ids {image_token_id = 99 : i64} : (tensor<2x24x32xbf16>, tensor<2x24xi64>) -> tensor<2x24x32xbf16>
  // CHECK: tg.embedding_grad %[[M]], %{{.*}} : (tensor<2x24x32xbf16>, tensor<2x24xi64>) -> tensor<100x32xbf16>
  %dtable = tg.embedding_grad %de, %ids : (tensor<2x24x32xbf16>, tensor<2x24xi64>) -> tensor<100x32xbf16>
  // CHECK: tg.drop_path %[[S]], %{{.*}} {offset = 3 : i64, rate = 1.000000e-01 : f64, seed = 42 : i64} : (tensor<2x24x32xbf16>, tensor<i64>) -> tensor<2x24x32xbf16>
  %dp = tg.drop_path %s, %step {rate = 0.1 : f64, seed = 42 : i64, offset = 3 : i64} : (tensor<2x24x32xbf16>, tensor<i64>) -> tensor<2x24x32xbf16>
  // CHECK: tg.dropout %[[S]], %{{.*}} {offset = 5 : i64, rate = 5.000000e-02 : f64, seed = 42 : i64} : (tensor<2x24x32xbf16>, tensor<i64>) -> tensor<2x24x32xbf16>
  %do = tg.dropout %s, %step {rate = 0.05 : f64, seed = 42 : i64, offset = 5 : i64} : (tensor<2x24x32xbf16>, tensor<i64>) -> tensor<2x24x32xbf16>
  return
}

// CHECK-LABEL: func.func @loss_and_optimizer
func.func @loss_and_optimizer(%logits: tensor<46x100xbf16>, %labels: tensor<46xi64>, %w: tensor<32x64xf32>, %m: tensor<32x64xf32>, %v: tensor<32x64xf32>, %g: tensor<32x64xbf16>, %step: tensor<i64>) {
  // CHECK: %[[LOSS:.*]], %[[LSE:.*]] = tg.cross_entropy %{{.*}}, %{{.*}} : (tensor<46x100xbf16>, tensor<46xi64>) -> (tensor<f32>, tensor<46xf32>)
  %loss, %lse = tg.cross_entropy %logits, %labels : (tensor<46x100xbf16>, tensor<46xi64>) -> (tensor<f32>, tensor<46xf32>)
  // CHECK: tg.cross_entropy %{{.*}}, %{{.*}} {ignore_index = -1 : i64}
  %loss2, %lse2 = tg.cross_entropy %logits, %labels {ignore_index = -1 : i64} : (tensor<46x100xbf16>, tensor<46xi64>) -> (tensor<f32>, tensor<46xf32>)
  %one = tg.fill 1.0 : tensor<f32>
  // CHECK: tg.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}}, %[[LSE]] : (tensor<f32>, tensor<46x100xbf16>, tensor<46xi64>, tensor<46xf32>) -> tensor<46x100xbf16>
  %dlogits = tg.cross_entropy_grad %one, %logits, %labels, %lse : (tensor<f32>, tensor<46x100xbf16>, tensor<46xi64>, tensor<46xf32>) -> tensor<46x100xbf16>
  // CHECK: %[[NORM:.*]] = tg.global_norm %{{.*}}, %{{.*}} : (tensor<32x64xbf16>, tensor<46x100xbf16>) -> tensor<f32>
  %norm = tg.global_norm %g, %dlogits : (tensor<32x64xbf16>, tensor<46x100xbf16>) -> tensor<f32>
  // CHECK: %[[SCALE:.*]] = tg.clip_scale %[[NORM]] {max_norm = 1.000000e+00 : f64} : tensor<f32>
  %scale = tg.clip_scale %norm {max_norm = 1.0 : f64} : tensor<f32>
  // CHECK: tg.adamw %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[SCALE]], %{{.*}} {beta1 = 9.000000e-01 : f64, beta2 = 0.99899999999999999 : f64, epsilon = 1.000000e-08 : f64, lr = 1.000000e-05 : f64, weight_decay = 5.000000e-02 : f64} : (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xbf16>, tensor<f32>, tensor<i64>) -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xbf16>)
  %w1, %m1, %v1, %p1 = tg.adamw %w, %m, %v, %g, %scale, %step {lr = 1.0e-5 : f64, beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, weight_decay = 0.05 : f64} : (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xbf16>, tensor<f32>, tensor<i64>) -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xbf16>)
  return
}

// Argument, result and module attributes of an imported graph.
// CHECK-LABEL: func.func @named
// CHECK-SAME: (%{{.*}}: tensor<32x64xbf16> {tg.kind = "param", tg.name = "mlp1.1.weight", tg.trainable}, %{{.*}}: tensor<2x8xi64> {tg.kind = "input", tg.name = "input_ids"}) -> (tensor<32x64xbf16> {tg.kind = "loss", tg.name = "loss"})
func.func @named(%w: tensor<32x64xbf16> {tg.name = "mlp1.1.weight", tg.kind = "param", tg.trainable}, %ids: tensor<2x8xi64> {tg.name = "input_ids", tg.kind = "input"}) -> (tensor<32x64xbf16> {tg.name = "loss", tg.kind = "loss"}) {
  return %w : tensor<32x64xbf16>
}

// Packed sequences: sample boundaries for attention and rope, image flags
// for the scatter, per-token weights for the loss.
// CHECK-LABEL: func.func @packed
func.func @packed(%q: tensor<1x16x4x8xbf16>, %k: tensor<1x16x2x8xbf16>, %cu: tensor<1x5xi64>, %e: tensor<1x16x32xbf16>, %ids: tensor<1x16xi64>, %img: tensor<12x32xbf16>, %flags: tensor<3xi64>, %logits: tensor<15x100xbf16>, %labels: tensor<15xi64>, %w: tensor<15xf32>, %one: tensor<f32>) {
  // CHECK: %[[Q:.*]] = tg.rope %{{.*}} samples %{{.*}} : tensor<1x5xi64> {theta = 1.000000e+06 : f64} : tensor<1x16x4x8xbf16>
  %qr = tg.rope %q samples %cu : tensor<1x5xi64> {theta = 1.0e6 : f64} : tensor<1x16x4x8xbf16>
  // CHECK: %[[O:.*]], %[[LSE:.*]] = tg.attention %[[Q]], %{{.*}}, %{{.*}}, %{{.*}} {causal, expected_samples = 4 : i64, scale = 3.535530e-01 : f64} : (tensor<1x16x4x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x5xi64>) -> (tensor<1x16x4x8xbf16>, tensor<1x4x16xf32>)
  %o, %lse = tg.attention %qr, %k, %k, %cu {causal, expected_samples = 4 : i64, scale = 0.353553 : f64} : (tensor<1x16x4x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x5xi64>) -> (tensor<1x16x4x8xbf16>, tensor<1x4x16xf32>)
  // CHECK: tg.attention_grad %[[O]], %[[Q]], %{{.*}}, %{{.*}}, %[[O]], %[[LSE]], %{{.*}} {causal, expected_samples = 4 : i64, scale = 3.535530e-01 : f64}
  %dq, %dk, %dv = tg.attention_grad %o, %qr, %k, %k, %o, %lse, %cu {causal, expected_samples = 4 : i64, scale = 0.353553 : f64} : (tensor<1x16x4x8xbf16>, tensor<1x16x4x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x4x8xbf16>, tensor<1x4x16xf32>, tensor<1x5xi64>) -> (tensor<1x16x4x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>)
  // CHECK: tg.scatter_image_embeds %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {image_token_id = 99 : i64} : (tensor<1x16x32xbf16>, tensor<1x16xi64>, tensor<12x32xbf16>, tensor<3xi64>) -> tensor<1x16x32xbf16>
  %s = tg.scatter_image_embeds %e, %ids, %img, %flags {image_token_id = 99 : i64} : (tensor<1x16x32xbf16>, tensor<1x16xi64>, tensor<12x32xbf16>, tensor<3xi64>) -> tensor<1x16x32xbf16>
  // CHECK: tg.gather_image_embeds %{{.*}}, %{{.*}}, %{{.*}} {image_token_id = 99 : i64} : (tensor<1x16x32xbf16>, tensor<1x16xi64>, tensor<3xi64>) -> tensor<12x32xbf16>
  %g = tg.gather_image_embeds %s, %ids, %flags {image_token_id = 99 : i64} : (tensor<1x16x32xbf16>, tensor<1x16xi64>, tensor<3xi64>) -> tensor<12x32xbf16>
  // CHECK: %{{.*}}, %[[CLSE:.*]] = tg.cross_entropy %{{.*}}, %{{.*}}, %{{.*}} : (tensor<15x100xbf16>, tensor<15xi64>, tensor<15xf32>) -> (tensor<f32>, tensor<15xf32>)
  %loss, %clse = tg.cross_entropy %logits, %labels, %w : (tensor<15x100xbf16>, tensor<15xi64>, tensor<15xf32>) -> (tensor<f32>, tensor<15xf32>)
  // CHECK: tg.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}}, %[[CLSE]], %{{.*}} : (tensor<f32>, tensor<15x100xbf16>, tensor<15xi64>, tensor<15xf32>, tensor<15xf32>) -> tensor<15x100xbf16>
  %dz = tg.cross_entropy_grad %one, %logits, %labels, %clse, %w : (tensor<f32>, tensor<15x100xbf16>, tensor<15xi64>, tensor<15xf32>, tensor<15xf32>) -> tensor<15x100xbf16>
  return
}

// CHECK-LABEL: func.func @chunked_loss
func.func @chunked_loss(%h: tensor<2x8x16xbf16>, %w: tensor<100x16xbf16>, %labels: tensor<2x8xi64>, %lw: tensor<2x8xf32>, %one: tensor<f32>) {
  // CHECK: %{{.*}}, %[[LSE:.*]] = tg.linear_cross_entropy %{{.*}}, %{{.*}}, %{{.*}} {chunk_tokens = 4 : i64} : (tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>) -> (tensor<f32>, tensor<2x8xf32>)
  %loss, %lse = tg.linear_cross_entropy %h, %w, %labels {chunk_tokens = 4 : i64} : (tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>) -> (tensor<f32>, tensor<2x8xf32>)
  // CHECK: tg.linear_cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[LSE]] {chunk_tokens = 4 : i64{{.*}}} : (tensor<f32>, tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>, tensor<2x8xf32>) -> (tensor<2x8x16xbf16>, tensor<100x16xbf16>)
  %dh, %dw = tg.linear_cross_entropy_grad %one, %h, %w, %labels, %lse {chunk_tokens = 4 : i64} : (tensor<f32>, tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>, tensor<2x8xf32>) -> (tensor<2x8x16xbf16>, tensor<100x16xbf16>)
  // The weighted loss; only the hidden state's gradient.
  // CHECK: tg.linear_cross_entropy %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {chunk_tokens = 16 : i64, ignore_index = -1 : i64}
  %wl, %wlse = tg.linear_cross_entropy %h, %w, %labels, %lw {chunk_tokens = 16 : i64, ignore_index = -1 : i64} : (tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>, tensor<2x8xf32>) -> (tensor<f32>, tensor<2x8xf32>)
  // CHECK: tg.linear_cross_entropy_grad {{.*}} -> tensor<2x8x16xbf16>
  %dh2 = tg.linear_cross_entropy_grad %one, %h, %w, %labels, %wlse, %lw {chunk_tokens = 16 : i64} : (tensor<f32>, tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8x16xbf16>
  return
}

// CHECK-LABEL: func.func @host_offload
func.func @host_offload(%x: tensor<2x16x64xbf16>) -> tensor<2x16x64xbf16> {
  // CHECK: %[[H:.*]] = tg.offload %{{.*}} : tensor<2x16x64xbf16>
  %h = tg.offload %x : tensor<2x16x64xbf16>
  // CHECK: %[[W:.*]] = tg.comm_wait %[[H]] : (tensor<2x16x64xbf16>) -> tensor<2x16x64xbf16>
  %w = tg.comm_wait %h : (tensor<2x16x64xbf16>) -> tensor<2x16x64xbf16>
  // CHECK: %[[D:.*]] = tg.prefetch %[[W]] : tensor<2x16x64xbf16>
  %d = tg.prefetch %w : tensor<2x16x64xbf16>
  %b = tg.comm_wait %d : (tensor<2x16x64xbf16>) -> tensor<2x16x64xbf16>
  return %b : tensor<2x16x64xbf16>
}
