// RUN: internvl-opt %s -split-input-file -verify-diagnostics
// One case per verifier rule of the tg ops and attributes.

func.func @dtype_not_allowed(%a: tensor<4xi32>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor (at most 1 TiB) of bfloat16 type or 16-bit float or 32-bit float values}}
  %0 = tg.neg %a : tensor<4xi32>
  return
}

// -----

func.func @dynamic_shape(%a: tensor<?x4xf32>) {
  // expected-error @+1 {{must be statically shaped tensor}}
  %0 = tg.neg %a : tensor<?x4xf32>
  return
}

// -----

func.func @binary_element_types(%a: tensor<4xf32>, %b: tensor<4xbf16>) {
  // expected-error @+1 {{expected rhs to have element type 'f32' (the element type of lhs), got 'tensor<4xbf16>'}}
  %0 = tg.add %a, %b : tensor<4xf32>, tensor<4xbf16> -> tensor<4xf32>
  return
}

// -----

func.func @binary_no_broadcast(%a: tensor<2x8x64xf32>, %b: tensor<32xf32>) {
  // expected-error @+1 {{operand shapes [2, 8, 64] and [32] do not broadcast}}
  %0 = tg.mul %a, %b : tensor<2x8x64xf32>, tensor<32xf32> -> tensor<2x8x64xf32>
  return
}

// -----

func.func @binary_result_shape(%a: tensor<2x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{expected result of shape [2, 8], got 'tensor<8xf32>'}}
  %0 = tg.sub %a, %b : tensor<2x8xf32>, tensor<8xf32> -> tensor<8xf32>
  return
}

// -----

func.func @cast_not_float(%a: tensor<4xi64>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor (at most 1 TiB) of bfloat16 type or 16-bit float or 32-bit float values}}
  %0 = tg.cast %a : tensor<4xi64> -> tensor<4xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<2x64xbf16>, %w: tensor<64xbf16>) {
  // expected-error @+1 {{expected weight [N, K] of rank 2, got 'tensor<64xbf16>'}}
  %0 = tg.linear %x, %w : (tensor<2x64xbf16>, tensor<64xbf16>) -> tensor<2x64xbf16>
  return
}

// -----

func.func @linear_contraction(%x: tensor<2x64xbf16>, %w: tensor<32x48xbf16>) {
  // expected-error @+1 {{expected weight of shape [N, 64] (K = 64 is the input's last dimension), got 'tensor<32x48xbf16>'}}
  %0 = tg.linear %x, %w : (tensor<2x64xbf16>, tensor<32x48xbf16>) -> tensor<2x32xbf16>
  return
}

// -----

func.func @linear_bias(%x: tensor<2x64xbf16>, %w: tensor<32x64xbf16>, %b: tensor<64xbf16>) {
  // expected-error @+1 {{expected bias of shape [32], got 'tensor<64xbf16>'}}
  %0 = tg.linear %x, %w, %b : (tensor<2x64xbf16>, tensor<32x64xbf16>, tensor<64xbf16>) -> tensor<2x32xbf16>
  return
}

// -----

func.func @linear_result(%x: tensor<2x5x64xbf16>, %w: tensor<32x64xbf16>) {
  // expected-error @+1 {{expected result of shape [2, 5, 32], got 'tensor<10x32xbf16>'}}
  %0 = tg.linear %x, %w : (tensor<2x5x64xbf16>, tensor<32x64xbf16>) -> tensor<10x32xbf16>
  return
}

// -----

func.func @linear_mixed_types(%x: tensor<2x64xf32>, %w: tensor<32x64xbf16>) {
  // expected-error @+1 {{expected weight to have element type 'f32' (the element type of the input), got 'tensor<32x64xbf16>'}}
  %0 = tg.linear %x, %w : (tensor<2x64xf32>, tensor<32x64xbf16>) -> tensor<2x32xf32>
  return
}

// -----

func.func @matmul_rank(%a: tensor<8xf32>, %b: tensor<8x4xf32>) {
  // expected-error @+1 {{expected operands of rank >= 2}}
  %0 = tg.matmul %a, %b : (tensor<8xf32>, tensor<8x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @matmul_shared_rhs_transposed(%a: tensor<2x8x4xf32>, %b: tensor<8x3xf32>) {
  // expected-error @+1 {{transpose_lhs needs lhs and rhs of equal rank}}
  %0 = tg.matmul %a, %b {transpose_lhs} : (tensor<2x8x4xf32>, tensor<8x3xf32>) -> tensor<2x4x3xf32>
  return
}

// -----

func.func @matmul_rank_mismatch(%a: tensor<2x8x4xf32>, %b: tensor<1x2x4x3xf32>) {
  // expected-error @+1 {{expected rhs of rank 3 (or 2, shared by every batch), got 'tensor<1x2x4x3xf32>'}}
  %0 = tg.matmul %a, %b : (tensor<2x8x4xf32>, tensor<1x2x4x3xf32>) -> tensor<2x8x3xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x8x4xf32>, %b: tensor<3x4x5xf32>) {
  // expected-error @+1 {{batch dimensions differ: [2] vs [3]}}
  %0 = tg.matmul %a, %b : (tensor<2x8x4xf32>, tensor<3x4x5xf32>) -> tensor<2x8x5xf32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<8x4xf32>, %b: tensor<5x3xf32>) {
  // expected-error @+1 {{contraction sizes differ: lhs has K = 4, rhs has K = 5}}
  %0 = tg.matmul %a, %b : (tensor<8x4xf32>, tensor<5x3xf32>) -> tensor<8x3xf32>
  return
}

// -----

func.func @matmul_result(%a: tensor<8x4xf32>, %b: tensor<8x3xf32>) {
  // expected-error @+1 {{expected result of shape [4, 3], got 'tensor<8x3xf32>'}}
  %0 = tg.matmul %a, %b {transpose_lhs} : (tensor<8x4xf32>, tensor<8x3xf32>) -> tensor<8x3xf32>
  return
}

// -----

func.func @reshape_elements(%a: tensor<4x6xf32>) {
  // expected-error @+1 {{reshape must keep the number of elements: input 'tensor<4x6xf32>' has 24, result 'tensor<5x5xf32>' has 25}}
  %0 = tg.reshape %a : tensor<4x6xf32> -> tensor<5x5xf32>
  return
}

// -----

func.func @transpose_permutation(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{permutation [0, 1, 1] is not a permutation of 0..2}}
  %0 = tg.transpose %a {permutation = array<i64: 0, 1, 1>} : tensor<2x3x4xf32> -> tensor<2x3x3xf32>
  return
}

// -----

func.func @transpose_result(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{expected result of shape [2, 4, 3], got 'tensor<2x3x4xf32>'}}
  %0 = tg.transpose %a {permutation = array<i64: 0, 2, 1>} : tensor<2x3x4xf32> -> tensor<2x3x4xf32>
  return
}

// -----

func.func @broadcast_incompatible(%a: tensor<3x64xf32>) {
  // expected-error @+1 {{input 'tensor<3x64xf32>' does not broadcast to result 'tensor<2x8x64xf32>'}}
  %0 = tg.broadcast %a : tensor<3x64xf32> -> tensor<2x8x64xf32>
  return
}

// -----

func.func @concat_dim(%a: tensor<2x3xf32>) {
  // expected-error @+1 {{dim 2 is out of range for rank 2}}
  %0 = tg.concat %a, %a {dim = 2 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<2x3xf32>, %b: tensor<2x3x1xf32>) {
  // expected-error @+1 {{input #1 has rank 3, expected 2}}
  %0 = tg.concat %a, %b {dim = 1 : i64} : (tensor<2x3xf32>, tensor<2x3x1xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_other_dims(%a: tensor<2x3xf32>, %b: tensor<4x3xf32>) {
  // expected-error @+1 {{input #1 has size 4 in dimension 0, expected 2 (only dimension 1 may differ)}}
  %0 = tg.concat %a, %b {dim = 1 : i64} : (tensor<2x3xf32>, tensor<4x3xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_result(%a: tensor<2x3xf32>, %b: tensor<2x5xf32>) {
  // expected-error @+1 {{expected result of shape [2, 8], got 'tensor<2x6xf32>'}}
  %0 = tg.concat %a, %b {dim = 1 : i64} : (tensor<2x3xf32>, tensor<2x5xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @concat_empty() {
  // expected-error @+1 {{expected 1 or more operands, but found 0}}
  %0 = tg.concat {dim = 0 : i64} : () -> tensor<2xf32>
  return
}

// -----

func.func @slice_rank(%a: tensor<4x4xf32>) {
  // expected-error @+1 {{expected input, result and offsets of equal rank, got 2, 2 and 1}}
  %0 = tg.slice %a {offsets = array<i64: 0>} : tensor<4x4xf32> -> tensor<2x2xf32>
  return
}

// -----

func.func @slice_bounds(%a: tensor<4x4xf32>) {
  // expected-error @+1 {{slice of 2 elements at offset 3 in dimension 1 is outside the input's size 4 (allowed offsets: 0..2)}}
  %0 = tg.slice %a {offsets = array<i64: 0, 3>} : tensor<4x4xf32> -> tensor<2x2xf32>
  return
}

// -----

func.func @pad_entries(%a: tensor<4x4xf32>) {
  // expected-error @+1 {{expected low and high with 2 entries (the input's rank)}}
  %0 = tg.pad %a {low = array<i64: 1>, high = array<i64: 0, 0>} : tensor<4x4xf32> -> tensor<5x4xf32>
  return
}

// -----

func.func @pad_negative(%a: tensor<4x4xf32>) {
  // expected-error @+1 {{padding must be non-negative, got low -1 and high 0 in dimension 0}}
  %0 = tg.pad %a {low = array<i64: -1, 0>, high = array<i64: 0, 0>} : tensor<4x4xf32> -> tensor<3x4xf32>
  return
}

// -----

func.func @pad_result(%a: tensor<4x4xf32>) {
  // expected-error @+1 {{expected result of shape [5, 6], got 'tensor<5x4xf32>'}}
  %0 = tg.pad %a {low = array<i64: 1, 1>, high = array<i64: 0, 1>} : tensor<4x4xf32> -> tensor<5x4xf32>
  return
}

// -----

func.func @reduce_dims(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{dims [0, 0] must be distinct dimensions in [0, 3)}}
  %0 = tg.reduce_sum %a {dims = array<i64: 0, 0>} : tensor<2x3x4xf32> -> tensor<3x4xf32>
  return
}

// -----

func.func @reduce_result(%a: tensor<2x3x4xf32>) {
  // expected-error @+1 {{expected result of shape [1, 3, 4], got 'tensor<3x4xf32>'}}
  %0 = tg.reduce_sum %a {dims = array<i64: 0>, keep_dims} : tensor<2x3x4xf32> -> tensor<3x4xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{expected epsilon to be a positive finite number, got 0}}
  %y, %m, %r = tg.layer_norm %x, %w, %w {epsilon = 0.0 : f64} : (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2xf32>, tensor<2xf32>)
  return
}

// -----

func.func @layer_norm_weight(%x: tensor<2x8xf32>, %w: tensor<4xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{expected weight of shape [8], got 'tensor<4xf32>'}}
  %y, %m, %r = tg.layer_norm %x, %w, %b {epsilon = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<4xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2xf32>, tensor<2xf32>)
  return
}

// -----

func.func @layer_norm_stats(%x: tensor<2x3x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{expected mean of shape [2, 3], got 'tensor<6xf32>'}}
  %y, %m, %r = tg.layer_norm %x, %w, %w {epsilon = 1.0e-6 : f64} : (tensor<2x3x8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<2x3x8xf32>, tensor<6xf32>, tensor<2x3xf32>)
  return
}

// -----

func.func @layer_norm_stats_f32(%x: tensor<2x8xbf16>, %w: tensor<8xbf16>) {
  // expected-error @+1 {{result #1 must be statically shaped tensor (at most 1 TiB) of 32-bit float values}}
  %y, %m, %r = tg.layer_norm %x, %w, %w {epsilon = 1.0e-6 : f64} : (tensor<2x8xbf16>, tensor<8xbf16>, tensor<8xbf16>) -> (tensor<2x8xbf16>, tensor<2xbf16>, tensor<2xf32>)
  return
}

// -----

func.func @layer_norm_result(%x: tensor<2x8xbf16>, %w: tensor<8xbf16>) {
  // expected-error @+1 {{expected result of type 'tensor<2x8xbf16>' (the type of the input), got 'tensor<2x8xf32>'}}
  %y, %m, %r = tg.layer_norm %x, %w, %w {epsilon = 1.0e-6 : f64} : (tensor<2x8xbf16>, tensor<8xbf16>, tensor<8xbf16>) -> (tensor<2x8xf32>, tensor<2xf32>, tensor<2xf32>)
  return
}

// -----

func.func @layer_norm_grad_weight_grad(%dy: tensor<2x8xf32>, %w: tensor<8xf32>, %s: tensor<2xf32>) {
  // expected-error @+1 {{expected weight_grad of type 'tensor<8xf32>' (the type of the weight), got 'tensor<4xf32>'}}
  %dx, %dw, %db = tg.layer_norm_grad %dy, %dy, %w, %s, %s : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<2xf32>, tensor<2xf32>) -> (tensor<2x8xf32>, tensor<4xf32>, tensor<8xf32>)
  return
}

// -----

func.func @layer_norm_grad_grad(%dy: tensor<2x4xf32>, %x: tensor<2x8xf32>, %w: tensor<8xf32>, %s: tensor<2xf32>) {
  // expected-error @+1 {{expected grad of type 'tensor<2x8xf32>' (the type of the input), got 'tensor<2x4xf32>'}}
  %dx, %dw, %db = tg.layer_norm_grad %dy, %x, %w, %s, %s : (tensor<2x4xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<2xf32>, tensor<2xf32>) -> (tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @rms_norm_rstd(%x: tensor<2x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{expected rstd of shape [2], got 'tensor<8xf32>'}}
  %y, %r = tg.rms_norm %x, %w {epsilon = 1.0e-6 : f64} : (tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @rms_norm_grad_input_grad(%dy: tensor<2x8xf32>, %w: tensor<8xf32>, %s: tensor<2xf32>) {
  // expected-error @+1 {{expected input_grad of type 'tensor<2x8xf32>' (the type of the input), got 'tensor<2x8xbf16>'}}
  %dx, %dw = tg.rms_norm_grad %dy, %dy, %w, %s : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8xf32>, tensor<2xf32>) -> (tensor<2x8xbf16>, tensor<8xf32>)
  return
}

// -----

func.func @attention_rank(%q: tensor<2x16x32xbf16>, %k: tensor<2x16x2x8xbf16>) {
  // expected-error @+1 {{expected query [B, S, Hq, D] of rank 4, got 'tensor<2x16x32xbf16>'}}
  %o, %l = tg.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<2x16x32xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_head_dim(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x16xbf16>) {
  // expected-error @+1 {{expected key of shape [2, 16, 2, 8], got 'tensor<2x16x2x16xbf16>'}}
  %o, %l = tg.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x16xbf16>, tensor<2x16x2x16xbf16>) -> (tensor<2x16x4x16xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_groups(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x3x8xbf16>) {
  // expected-error @+1 {{query heads (4) must be a multiple of key/value heads (3)}}
  %o, %l = tg.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x3x8xbf16>, tensor<2x16x3x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_causal_lengths(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x12x2x8xbf16>) {
  // expected-error @+1 {{causal attention needs as many keys as queries, got S = 16 and Skv = 12}}
  %o, %l = tg.attention %q, %k, %k {causal, scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x12x2x8xbf16>, tensor<2x12x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_output(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>, %v: tensor<2x16x2x4xbf16>) {
  // expected-error @+1 {{expected output of shape [2, 16, 4, 4], got 'tensor<2x16x4x8xbf16>'}}
  %o, %l = tg.attention %q, %k, %v {scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x4xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_lse(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>) {
  // expected-error @+1 {{expected logsumexp of shape [2, 4, 16], got 'tensor<2x16x4xf32>'}}
  %o, %l = tg.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x16x4xf32>)
  return
}

// -----

func.func @attention_scale(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>) {
  // expected-error @+1 {{expected scale to be a positive finite number, got -1}}
  %o, %l = tg.attention %q, %k, %k {scale = -1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_types(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xf32>) {
  // expected-error @+1 {{expected key to have element type 'bf16' (the element type of the query), got 'tensor<2x16x2x8xf32>'}}
  %o, %l = tg.attention %q, %k, %k {scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xf32>, tensor<2x16x2x8xf32>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_grad_grad(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>, %do: tensor<2x16x4x8xf32>, %l: tensor<2x4x16xf32>) {
  // expected-error @+1 {{expected grad of type 'tensor<2x16x4x8xbf16>' (the type of the output), got 'tensor<2x16x4x8xf32>'}}
  %dq, %dk, %dv = tg.attention_grad %do, %q, %k, %k, %q, %l {scale = 1.0 : f64} : (tensor<2x16x4x8xf32>, tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>) -> (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>)
  return
}

// -----

func.func @attention_grad_key_grad(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>, %l: tensor<2x4x16xf32>) {
  // expected-error @+1 {{expected key_grad of type 'tensor<2x16x2x8xbf16>' (the type of the key), got 'tensor<2x16x4x8xbf16>'}}
  %dq, %dk, %dv = tg.attention_grad %q, %q, %k, %k, %q, %l {scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>) -> (tensor<2x16x4x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>)
  return
}

// -----

func.func @rope_rank(%x: tensor<2x16x32xbf16>) {
  // expected-error @+1 {{expected input [B, S, H, D] of rank 4, got 'tensor<2x16x32xbf16>'}}
  %0 = tg.rope %x {theta = 1.0e4 : f64} : tensor<2x16x32xbf16>
  return
}

// -----

func.func @rope_odd(%x: tensor<2x16x4x7xbf16>) {
  // expected-error @+1 {{head dimension must be even for rotate-half pairing, got 7}}
  %0 = tg.rope %x {theta = 1.0e4 : f64} : tensor<2x16x4x7xbf16>
  return
}

// -----

func.func @rope_factors(%x: tensor<2x16x4x8xbf16>) {
  // expected-error @+1 {{expected 4 freq_factors (one per frequency, head dimension / 2), got 2}}
  %0 = tg.rope %x {theta = 1.0e4 : f64, freq_factors = array<f64: 1.0, 2.0>} : tensor<2x16x4x8xbf16>
  return
}

// -----

func.func @rope_factor_value(%x: tensor<2x16x4x4xbf16>) {
  // expected-error @+1 {{expected every freq_factor to be a positive finite number, got 0}}
  %0 = tg.rope %x {theta = 1.0e4 : f64, freq_factors = array<f64: 1.0, 0.0>} : tensor<2x16x4x4xbf16>
  return
}

// -----

func.func @rope_theta(%x: tensor<2x16x4x4xbf16>) {
  // expected-error @+1 {{expected theta to be a positive finite number, got 0}}
  %0 = tg.rope %x {theta = 0.0 : f64} : tensor<2x16x4x4xbf16>
  return
}

// -----

func.func @embedding_table(%t: tensor<100xbf16>, %ids: tensor<2x8xi64>) {
  // expected-error @+1 {{expected table [V, H] of rank 2, got 'tensor<100xbf16>'}}
  %0 = tg.embedding %t, %ids : (tensor<100xbf16>, tensor<2x8xi64>) -> tensor<2x8x1xbf16>
  return
}

// -----

func.func @embedding_result(%t: tensor<100x32xbf16>, %ids: tensor<2x8xi64>) {
  // expected-error @+1 {{expected result of shape [2, 8, 32], got 'tensor<16x32xbf16>'}}
  %0 = tg.embedding %t, %ids : (tensor<100x32xbf16>, tensor<2x8xi64>) -> tensor<16x32xbf16>
  return
}

// -----

func.func @embedding_ids(%t: tensor<100x32xbf16>, %ids: tensor<2x8xf32>) {
  // expected-error @+1 {{operand #1 must be statically shaped tensor (at most 1 TiB) of 64-bit signless integer values}}
  %0 = tg.embedding %t, %ids : (tensor<100x32xbf16>, tensor<2x8xf32>) -> tensor<2x8x32xbf16>
  return
}

// -----

func.func @embedding_grad_grad(%dy: tensor<2x8x16xbf16>, %ids: tensor<2x8xi64>) {
  // expected-error @+1 {{expected grad of shape [2, 8, 32], got 'tensor<2x8x16xbf16>'}}
  %0 = tg.embedding_grad %dy, %ids : (tensor<2x8x16xbf16>, tensor<2x8xi64>) -> tensor<100x32xbf16>
  return
}

// -----

func.func @scatter_ids(%e: tensor<2x8x32xbf16>, %ids: tensor<16xi64>, %img: tensor<4x32xbf16>) {
  // expected-error @+1 {{expected input_ids of shape [2, 8], got 'tensor<16xi64>'}}
  %0 = tg.scatter_image_embeds %e, %ids, %img {image_token_id = 7 : i64} : (tensor<2x8x32xbf16>, tensor<16xi64>, tensor<4x32xbf16>) -> tensor<2x8x32xbf16>
  return
}

// -----

func.func @scatter_width(%e: tensor<2x8x32xbf16>, %ids: tensor<2x8xi64>, %img: tensor<4x64xbf16>) {
  // expected-error @+1 {{expected image_embeds of shape [N, 32] (H = the text embedding width), got 'tensor<4x64xbf16>'}}
  %0 = tg.scatter_image_embeds %e, %ids, %img {image_token_id = 7 : i64} : (tensor<2x8x32xbf16>, tensor<2x8xi64>, tensor<4x64xbf16>) -> tensor<2x8x32xbf16>
  return
}

// -----

func.func @scatter_too_many(%e: tensor<2x8x32xbf16>, %ids: tensor<2x8xi64>, %img: tensor<17x32xbf16>) {
  // expected-error @+1 {{17 image embeddings do not fit in 16 token positions}}
  %0 = tg.scatter_image_embeds %e, %ids, %img {image_token_id = 7 : i64} : (tensor<2x8x32xbf16>, tensor<2x8xi64>, tensor<17x32xbf16>) -> tensor<2x8x32xbf16>
  return
}

// -----

func.func @gather_width(%dy: tensor<2x8x32xbf16>, %ids: tensor<2x8xi64>) {
  // expected-error @+1 {{expected result of shape [N, 32] (H = the grad's width), got 'tensor<4x16xbf16>'}}
  %0 = tg.gather_image_embeds %dy, %ids {image_token_id = 7 : i64} : (tensor<2x8x32xbf16>, tensor<2x8xi64>) -> tensor<4x16xbf16>
  return
}

// -----

func.func @mask_ids(%dy: tensor<2x8x32xbf16>, %ids: tensor<2x4xi64>) {
  // expected-error @+1 {{expected input_ids of shape [2, 8], got 'tensor<2x4xi64>'}}
  %0 = tg.mask_image_positions %dy, %ids {image_token_id = 7 : i64} : (tensor<2x8x32xbf16>, tensor<2x4xi64>) -> tensor<2x8x32xbf16>
  return
}

// -----

func.func @pixel_shuffle_grid(%x: tensor<2x31x32x64xbf16>) {
  // expected-error @+1 {{scale_factor 5.000000e-01 does not divide the grid [2, 31, 32, 64] evenly}}
  %0 = tg.pixel_shuffle %x {scale_factor = 0.5 : f64, version = #tg<ps_version v2>} : tensor<2x31x32x64xbf16> -> tensor<2x16x16x256xbf16>
  return
}

// -----

func.func @pixel_shuffle_v1_order(%x: tensor<2x8x4x64xbf16>) {
  // v1 keeps InternVL's first permute: [N, H*s, W*s, C/s^2].
  // expected-error @+1 {{expected result of shape [2, 2, 4, 256], got 'tensor<2x4x2x256xbf16>'}}
  %0 = tg.pixel_shuffle %x {scale_factor = 0.5 : f64, version = #tg<ps_version v1>} : tensor<2x8x4x64xbf16> -> tensor<2x4x2x256xbf16>
  return
}

// -----

func.func @pixel_shuffle_version(%x: tensor<2x8x8x64xbf16>) {
  // expected-error @+2 {{expected ::mlir::tg::PixelShuffleVersion to be one of: v1, v2}}
  // expected-error @+1 {{failed to parse TG_PixelShuffleVersionAttr}}
  %0 = tg.pixel_shuffle %x {scale_factor = 0.5 : f64, version = #tg<ps_version v3>} : tensor<2x8x8x64xbf16> -> tensor<2x4x4x256xbf16>
  return
}

// -----

func.func @drop_path_rate(%x: tensor<2x8xbf16>, %step: tensor<i64>) {
  // expected-error @+1 {{rate must be in [0, 1), got 1}}
  %0 = tg.drop_path %x, %step {rate = 1.0 : f64, seed = 0 : i64, offset = 0 : i64} : (tensor<2x8xbf16>, tensor<i64>) -> tensor<2x8xbf16>
  return
}

// -----

func.func @drop_path_offset(%x: tensor<2x8xbf16>, %step: tensor<i64>) {
  // expected-error @+1 {{offset must be non-negative, got -2}}
  %0 = tg.drop_path %x, %step {rate = 0.1 : f64, seed = 0 : i64, offset = -2 : i64} : (tensor<2x8xbf16>, tensor<i64>) -> tensor<2x8xbf16>
  return
}

// -----

func.func @drop_path_step(%x: tensor<2x8xbf16>, %step: tensor<1xi64>) {
  // expected-error @+1 {{operand #1 must be 0-d tensor of 64-bit signless integer}}
  %0 = tg.drop_path %x, %step {rate = 0.1 : f64, seed = 0 : i64, offset = 0 : i64} : (tensor<2x8xbf16>, tensor<1xi64>) -> tensor<2x8xbf16>
  return
}

// -----

func.func @dropout_rate(%x: tensor<2x8xbf16>, %step: tensor<i64>) {
  // expected-error @+1 {{rate must be in [0, 1), got -5.000000e-01}}
  %0 = tg.dropout %x, %step {rate = -0.5 : f64, seed = 0 : i64, offset = 0 : i64} : (tensor<2x8xbf16>, tensor<i64>) -> tensor<2x8xbf16>
  return
}

// -----

func.func @dropout_offset(%x: tensor<2x8xbf16>, %step: tensor<i64>) {
  // expected-error @+1 {{offset must be in [0, 16777216), got -1}}
  %0 = tg.dropout %x, %step {rate = 0.1 : f64, seed = 0 : i64, offset = -1 : i64} : (tensor<2x8xbf16>, tensor<i64>) -> tensor<2x8xbf16>
  return
}

// -----

func.func @dropout_type(%x: tensor<2x8xbf16>, %step: tensor<i64>) {
  // expected-error @+1 {{all of {input, result} have same type}}
  %0 = tg.dropout %x, %step {rate = 0.1 : f64, seed = 0 : i64, offset = 0 : i64} : (tensor<2x8xbf16>, tensor<i64>) -> tensor<2x8xf32>
  return
}

// -----

func.func @cross_entropy_labels(%l: tensor<8x100xbf16>, %y: tensor<7xi64>) {
  // expected-error @+1 {{expected labels of shape [8], got 'tensor<7xi64>'}}
  %loss, %lse = tg.cross_entropy %l, %y : (tensor<8x100xbf16>, tensor<7xi64>) -> (tensor<f32>, tensor<8xf32>)
  return
}

// -----

func.func @cross_entropy_loss_scalar(%l: tensor<8x100xbf16>, %y: tensor<8xi64>) {
  // expected-error @+1 {{result #0 must be 0-d tensor of 32-bit float}}
  %loss, %lse = tg.cross_entropy %l, %y : (tensor<8x100xbf16>, tensor<8xi64>) -> (tensor<1xf32>, tensor<8xf32>)
  return
}

// -----

func.func @cross_entropy_grad_type(%g: tensor<f32>, %l: tensor<8x100xbf16>, %y: tensor<8xi64>, %lse: tensor<8xf32>) {
  // expected-error @+1 {{all of {logits, result} have same type}}
  %0 = tg.cross_entropy_grad %g, %l, %y, %lse : (tensor<f32>, tensor<8x100xbf16>, tensor<8xi64>, tensor<8xf32>) -> tensor<8x100xf32>
  return
}

// -----

func.func @cross_entropy_grad_lse(%g: tensor<f32>, %l: tensor<8x100xbf16>, %y: tensor<8xi64>, %lse: tensor<100xf32>) {
  // expected-error @+1 {{expected logsumexp of shape [8], got 'tensor<100xf32>'}}
  %0 = tg.cross_entropy_grad %g, %l, %y, %lse : (tensor<f32>, tensor<8x100xbf16>, tensor<8xi64>, tensor<100xf32>) -> tensor<8x100xbf16>
  return
}

// -----

func.func @linear_cross_entropy_chunk(%h: tensor<2x8x16xbf16>, %w: tensor<100x16xbf16>, %y: tensor<2x8xi64>) {
  // expected-error @+1 {{chunk_tokens must be in [1, 16] (the B*S tokens), got 17}}
  %loss, %lse = tg.linear_cross_entropy %h, %w, %y {chunk_tokens = 17 : i64} : (tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>) -> (tensor<f32>, tensor<2x8xf32>)
  return
}

// -----

func.func @linear_cross_entropy_weight(%h: tensor<2x8x16xbf16>, %w: tensor<100x8xbf16>, %y: tensor<2x8xi64>) {
  // expected-error @+1 {{expected weight of shape [V, 16] (H = 16 is the hidden state's last dimension), got 'tensor<100x8xbf16>'}}
  %loss, %lse = tg.linear_cross_entropy %h, %w, %y {chunk_tokens = 4 : i64} : (tensor<2x8x16xbf16>, tensor<100x8xbf16>, tensor<2x8xi64>) -> (tensor<f32>, tensor<2x8xf32>)
  return
}

// -----

func.func @linear_cross_entropy_labels(%h: tensor<2x8x16xbf16>, %w: tensor<100x16xbf16>, %y: tensor<16xi64>) {
  // expected-error @+1 {{expected labels of shape [2, 8], got 'tensor<16xi64>'}}
  %loss, %lse = tg.linear_cross_entropy %h, %w, %y {chunk_tokens = 4 : i64} : (tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<16xi64>) -> (tensor<f32>, tensor<2x8xf32>)
  return
}

// -----

func.func @linear_cross_entropy_grad_type(%g: tensor<f32>, %h: tensor<2x8x16xbf16>, %w: tensor<100x16xbf16>, %y: tensor<2x8xi64>, %lse: tensor<2x8xf32>) {
  // expected-error @+1 {{expected weight_grad of type 'tensor<100x16xbf16>', got 'tensor<100x16xf32>'}}
  %dh, %dw = tg.linear_cross_entropy_grad %g, %h, %w, %y, %lse {chunk_tokens = 4 : i64} : (tensor<f32>, tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>, tensor<2x8xf32>) -> (tensor<2x8x16xbf16>, tensor<100x16xf32>)
  return
}

// -----

func.func @global_norm_empty() {
  // expected-error @+1 {{expected at least one gradient}}
  %0 = tg.global_norm : () -> tensor<f32>
  return
}

// -----

func.func @clip_scale_max_norm(%n: tensor<f32>) {
  // expected-error @+1 {{expected max_norm to be a positive finite number, got 0}}
  %0 = tg.clip_scale %n {max_norm = 0.0 : f64} : tensor<f32>
  return
}

// -----

func.func @adamw_shape(%w: tensor<4x8xf32>, %g: tensor<8x4xbf16>, %s: tensor<f32>, %t: tensor<i64>) {
  // expected-error @+1 {{expected grad of shape [4, 8], got 'tensor<8x4xbf16>'}}
  %a, %b, %c, %d = tg.adamw %w, %w, %w, %g, %s, %t {lr = 1.0e-5 : f64, beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xbf16>, tensor<f32>, tensor<i64>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xbf16>)
  return
}

// -----

func.func @adamw_beta(%w: tensor<4x8xf32>, %s: tensor<f32>, %t: tensor<i64>) {
  // expected-error @+1 {{beta2 must be in [0, 1), got 1}}
  %a, %b, %c, %d = tg.adamw %w, %w, %w, %w, %s, %t {lr = 1.0e-5 : f64, beta1 = 0.9 : f64, beta2 = 1.0 : f64, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<i64>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
  return
}

// -----

func.func @adamw_lr(%w: tensor<4x8xf32>, %s: tensor<f32>, %t: tensor<i64>) {
  // expected-error @+1 {{lr must be a non-negative finite number, got -1.000000e-05}}
  %a, %b, %c, %d = tg.adamw %w, %w, %w, %w, %s, %t {lr = -1.0e-5 : f64, beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<f32>, tensor<i64>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
  return
}

// -----

func.func @adamw_master_f32(%w: tensor<4x8xbf16>, %s: tensor<f32>, %t: tensor<i64>) {
  // expected-error @+1 {{operand #0 must be statically shaped tensor (at most 1 TiB) of 32-bit float values}}
  %a, %b, %c, %d = tg.adamw %w, %w, %w, %w, %s, %t {lr = 1.0e-5 : f64, beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<4x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>, tensor<4x8xbf16>, tensor<f32>, tensor<i64>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xbf16>)
  return
}

// -----

func.func @scope_not_string(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tg.scope' must be a string attribute (a module path such as "vision_model.encoder.layers.0"), got 3 : i64}}
  %0 = tg.neg %a {tg.scope = 3 : i64} : tensor<4xf32>
  return
}

// -----

func.func @unknown_op_attribute(%a: tensor<4xf32>) {
  // expected-error @+1 {{unknown attribute 'tg.scop' on an operation; allowed: tg.scope, tg.phase, tg.alloc, tg.workspace, tg.memory_plan, tg.remat}}
  %0 = tg.neg %a {tg.scop = "x"} : tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{'tg.kind' must be one of "param", "input", "master", "exp_avg", "exp_avg_sq", "step", "loss", "grad"; got "weights"}}
func.func @bad_kind(%a: tensor<4xf32> {tg.kind = "weights"}) {
  return
}

// -----

// expected-error @+1 {{'tg.name' must be a non-empty string}}
func.func @empty_name(%a: tensor<4xf32> {tg.name = ""}) {
  return
}

// -----

// expected-error @+1 {{'tg.trainable' must be a unit attribute}}
func.func @trainable_not_unit(%a: tensor<4xf32> {tg.trainable = 1 : i64}) {
  return
}

// -----

// expected-error @+1 {{unknown result attribute 'tg.trainable'; allowed: tg.name, tg.kind}}
func.func @trainable_result() -> (tensor<4xf32> {tg.trainable}) {
  %0 = tg.fill 0.0 : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error @+1 {{'tg.grad_checkpoint' must be a bool attribute}}
module attributes {tg.grad_checkpoint = "yes"} {
}

// -----

// expected-error @+1 {{unknown module attribute 'tg.grad_ckpt'; allowed: tg.model, tg.grad_checkpoint, tg.vision_grad_checkpoint, tg.zero_stage, tg.world_size, tg.reduce_bucket_size, tg.allgather_bucket_size}}
module attributes {tg.grad_ckpt = true} {
}

// -----

func.func @bad_phase(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tg.phase' must be #tg.phase<backward>, #tg.phase<optimizer> or #tg.phase<recompute> (forward ops carry none), got "forward"}}
  %0 = tg.neg %a {tg.phase = "forward"} : tensor<4xf32>
  return
}

// -----

// expected-error @+1 {{'tg.init' must be "zeros", "ones", "normal:<std>" or "constant:<value>", got "uniform:1"}}
func.func @bad_init(%a: tensor<4xf32> {tg.init = "uniform:1"}) {
  return
}

// -----

// expected-error @+1 {{'tg.data_parallel' must be a #tg.data_parallel}}
func.func @data_parallel_a_dictionary(%a: tensor<4xf32>) attributes {tg.data_parallel = {world_size = 2 : i64}} {
  return
}

// -----

// expected-error @+1 {{#tg.data_parallel: world_size must be in [1, 1048576], got 0}}
func.func @data_parallel_no_ranks(%a: tensor<4xf32>) attributes {tg.data_parallel = #tg.data_parallel<world_size = 0, zero_stage = 1, reduce_bucket_size = 1, allgather_bucket_size = 1, buckets = 0>} {
  return
}

// -----

// expected-error @+1 {{#tg.data_parallel: frozen_buckets is ZeRO-3's, but zero_stage is 1}}
func.func @data_parallel_frozen_outside_stage3(%a: tensor<4xf32>) attributes {tg.data_parallel = #tg.data_parallel<world_size = 2, zero_stage = 1, reduce_bucket_size = 1, allgather_bucket_size = 1, buckets = 0, frozen_buckets = 1>} {
  return
}

// -----

// expected-error @+1 {{struct is missing required parameter: zero_stage}}
func.func @data_parallel_without_stage(%a: tensor<4xf32>) attributes {tg.data_parallel = #tg.data_parallel<world_size = 2>} {
  return
}

// -----

// expected-error @+1 {{'tg.zero_params' must be an array of {name, type[, init]} dictionaries (type a static bf16, f16 or f32 tensor type of at most 1 TiB, init as tg.init spells it)}}
func.func @zero_param_not_a_tensor(%a: tensor<4xf32>) attributes {tg.zero_params = [{name = "w", type = i32}]} {
  return
}

// -----

// expected-error @+1 {{'tg.zero_params' must be an array of {name, type[, init]} dictionaries}}
func.func @zero_param_unranked(%a: tensor<4xf32>) attributes {tg.zero_params = [{name = "w", type = tensor<*xbf16>}]} {
  return
}

// -----

// expected-error @+1 {{'tg.zero_params' must be an array of {name, type[, init]} dictionaries}}
func.func @zero_param_beyond_the_ceiling(%a: tensor<4xf32>) attributes {tg.zero_params = [{name = "w", type = tensor<4611686018427387904xbf16>}]} {
  return
}

// -----

// expected-error @+1 {{'tg.zero_params' must be an array of {name, type[, init]} dictionaries}}
func.func @zero_param_bad_init(%a: tensor<4xf32>) attributes {tg.zero_params = [{name = "w", type = tensor<4xbf16>, init = "uniform:1"}]} {
  return
}

// -----

// expected-error @+1 {{'tg.remat' entry 'llm' must be a dictionary with a policy of "force", "auto" or "off", got {layers = 2 : i64}}}
func.func @remat_without_policy(%a: tensor<4xf32>) attributes {tg.remat = {llm = {layers = 2 : i64}}} {
  return
}

// -----

func.func @alloc_negative_offset(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{#tg.alloc needs a non-negative offset and size whose sum fits in 64 bits, got offset -1000000000 and size 64}}
  %y = tg.neg %x {tg.alloc = [#tg.alloc<arena, -1000000000, 64>]} : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// expected-error @+1 {{'tg.memory_plan' must be a #tg.memory_plan}}
func.func @plan_a_dictionary(%a: tensor<4xf32>) attributes {tg.memory_plan = {world_size = 1 : i64}} {
  return
}

// -----

// expected-error @+1 {{#tg.memory_plan: world_size must be in [1, 1048576], got 0}}
func.func @plan_no_ranks(%a: tensor<4xf32>) attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 0, alignment = 256, steps = 0, arena_bytes = 0, live_lower_bound_bytes = 0, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 0>} {
  return
}

// -----

// Sizes a user edited below zero, an alignment that is no power of two.
// expected-error @+1 {{#tg.memory_plan: arena_bytes must be in [0, 576460752303423487], got -1}}
func.func @plan_negative_arena(%a: tensor<4xf32>) attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 256, steps = 0, arena_bytes = -1, live_lower_bound_bytes = 0, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 0>} {
  return
}

// -----

// expected-error @+1 {{#tg.memory_plan: alignment must be a power of two, got 96}}
func.func @plan_alignment(%a: tensor<4xf32>) attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 96, steps = 0, arena_bytes = 0, live_lower_bound_bytes = 0, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 0>} {
  return
}

// -----

// expected-error @+1 {{#tg.memory_plan: alignment must be in [1, 1073741824], got 0}}
func.func @plan_alignment_zero(%a: tensor<4xf32>) attributes {tg.memory_plan = #tg.memory_plan<zero_stage = 0, world_size = 1, alignment = 0, steps = 0, arena_bytes = 0, live_lower_bound_bytes = 0, params_bytes = 0, master_params_bytes = 0, grads_bytes = 0, grads_buffer_bytes = 0, optimizer_bytes = 0, peak_bytes = 0>} {
  return
}

// -----

func.func @attention_sample_bounds_rows(%q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>, %cu: tensor<1x5xi64>) {
  // expected-error @+1 {{expected cu_seqlens of shape [2, N+1] with N >= 1 (sample boundaries per row), got 'tensor<1x5xi64>'}}
  %o, %l = tg.attention %q, %k, %k, %cu {causal, scale = 1.0 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>, tensor<1x5xi64>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  return
}

// -----

func.func @attention_packed_lengths(%q: tensor<1x16x4x8xbf16>, %k: tensor<1x12x2x8xbf16>, %cu: tensor<1x5xi64>) {
  // expected-error @+1 {{packed sequences (cu_seqlens) need as many keys as queries, got S = 16 and Skv = 12}}
  %o, %l = tg.attention %q, %k, %k, %cu {scale = 1.0 : f64} : (tensor<1x16x4x8xbf16>, tensor<1x12x2x8xbf16>, tensor<1x12x2x8xbf16>, tensor<1x5xi64>) -> (tensor<1x16x4x8xbf16>, tensor<1x4x16xf32>)
  return
}

// -----

func.func @attention_expected_samples(%q: tensor<1x16x4x8xbf16>, %k: tensor<1x16x2x8xbf16>, %cu: tensor<1x5xi64>) {
  // expected-error @+1 {{expected_samples must be 1 without cu_seqlens, and in [1, min(N, S)] with them, got 5}}
  %o, %l = tg.attention %q, %k, %k, %cu {causal, expected_samples = 5 : i64, scale = 1.0 : f64} : (tensor<1x16x4x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x5xi64>) -> (tensor<1x16x4x8xbf16>, tensor<1x4x16xf32>)
  return
}

// -----

func.func @attention_expected_samples_unpacked(%q: tensor<1x16x4x8xbf16>, %k: tensor<1x16x2x8xbf16>) {
  // expected-error @+1 {{expected_samples must be 1 without cu_seqlens}}
  %o, %l = tg.attention %q, %k, %k {causal, expected_samples = 2 : i64, scale = 1.0 : f64} : (tensor<1x16x4x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>) -> (tensor<1x16x4x8xbf16>, tensor<1x4x16xf32>)
  return
}

// -----

func.func @rope_sample_bounds(%q: tensor<1x16x4x8xbf16>, %cu: tensor<5xi64>) {
  // expected-error @+1 {{expected cu_seqlens of shape [1, N+1] with N >= 1 (sample boundaries per row), got 'tensor<5xi64>'}}
  %r = tg.rope %q samples %cu : tensor<5xi64> {theta = 1.0e4 : f64} : tensor<1x16x4x8xbf16>
  return
}

// -----

func.func @scatter_image_flags(%e: tensor<1x16x32xbf16>, %ids: tensor<1x16xi64>, %img: tensor<12x32xbf16>, %flags: tensor<5xi64>) {
  // expected-error @+1 {{expected image_flags of shape [tiles] with tiles dividing the 12 image embeddings, got 'tensor<5xi64>'}}
  %s = tg.scatter_image_embeds %e, %ids, %img, %flags {image_token_id = 99 : i64} : (tensor<1x16x32xbf16>, tensor<1x16xi64>, tensor<12x32xbf16>, tensor<5xi64>) -> tensor<1x16x32xbf16>
  return
}

// -----

func.func @cross_entropy_weights(%l: tensor<8x100xbf16>, %y: tensor<8xi64>, %w: tensor<7xf32>) {
  // expected-error @+1 {{expected weights of shape [8]}}
  %loss, %lse = tg.cross_entropy %l, %y, %w : (tensor<8x100xbf16>, tensor<8xi64>, tensor<7xf32>) -> (tensor<f32>, tensor<8xf32>)
  return
}

// -----

module {
  // expected-error @+1 {{a module with 'tg.bucket' must be named (@seq<S>_tiles<T>) and nested in the module of all buckets}}
  module attributes {tg.bucket = #tg.bucket<seq = 8, tiles = 1>} {
  }
}

// -----

module {
  // expected-error @+1 {{'tg.bucket' must be a #tg.bucket<seq = S, tiles = T> (S >= 2, T >= 1) on a module, got #tg.bucket<seq = 1, tiles = 1>}}
  module @seq1_tiles1 attributes {tg.bucket = #tg.bucket<seq = 1, tiles = 1>} {
  }
}

// -----

func.func @offloaded_value_read(%x: tensor<4xbf16>) -> tensor<4xbf16> {
  // expected-error @+1 {{'tg.offload' op result may only be read by tg.comm_wait, not by tg.neg}}
  %h = tg.offload %x : tensor<4xbf16>
  %y = tg.neg %h : tensor<4xbf16>
  return %y : tensor<4xbf16>
}

// -----

func.func @prefetch_of_device_value(%x: tensor<4xbf16>) -> tensor<4xbf16> {
  // expected-error @+1 {{'tg.prefetch' op expected an offloaded value (tg.offload, through its tg.comm_wait)}}
  %d = tg.prefetch %x : tensor<4xbf16>
  return %d : tensor<4xbf16>
}
