// RUN: internvl-opt %s -test-print-op-cost | FileCheck %s
// Exact FLOPs and bytes of the cost interface (formulas in docs/cost-model.md).

func.func @cost(%x: tensor<2x16x64xbf16>, %w: tensor<32x64xbf16>, %b: tensor<32xbf16>,
                %q: tensor<2x16x4x8xbf16>, %k: tensor<2x16x2x8xbf16>,
                %xf: tensor<2x8x64xf32>, %wf: tensor<64xf32>,
                %big: tensor<7x1025x64xbf16>, %table: tensor<100x32xbf16>, %ids: tensor<2x24xi64>,
                %logits: tensor<46x100xbf16>, %labels: tensor<46xi64>,
                %master: tensor<32x64xf32>, %g: tensor<32x64xbf16>, %step: tensor<i64>,
                %h: tensor<2x8x64xbf16>, %hb: tensor<64xbf16>,
                %q1: tensor<1x16x4x8xbf16>, %k1: tensor<1x16x2x8xbf16>, %cu: tensor<1x5xi64>,
                %hl: tensor<2x8x16xbf16>, %wl: tensor<100x16xbf16>, %yl: tensor<2x8xi64>) {
  // 2·(2·16)·32·64 for the product plus one add per output for the bias.
  // CHECK: tg.linear flops=132096 bytes_read=8256 bytes_written=2048
  %y = tg.linear %x, %w, %b : (tensor<2x16x64xbf16>, tensor<32x64xbf16>, tensor<32xbf16>) -> tensor<2x16x32xbf16>
  // CHECK-NEXT: tg.matmul flops=131072 bytes_read=6144 bytes_written=4096
  %dx = tg.matmul %y, %w : (tensor<2x16x32xbf16>, tensor<32x64xbf16>) -> tensor<2x16x64xbf16>
  // Causal: 16·17/2 = 136 query/key pairs per head; 2·B·Hq·pairs·(D + Dv).
  // CHECK-NEXT: tg.attention flops=34816 bytes_read=4096 bytes_written=2560
  %o, %lse = tg.attention %q, %k, %k {causal, scale = 0.35 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  // CHECK-NEXT: tg.attention flops=65536 bytes_read=4096 bytes_written=2560
  %o2, %lse2 = tg.attention %q, %k, %k {scale = 0.35 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>) -> (tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>)
  // Packed, 4 samples of 4 tokens assumed: 4·(4·5/2) = 40 pairs per head,
  // not the 136 of causal attention over the whole row.
  // CHECK-NEXT: tg.attention flops=5120
  %po, %plse = tg.attention %q1, %k1, %k1, %cu {causal, expected_samples = 4 : i64, scale = 0.35 : f64} : (tensor<1x16x4x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x16x2x8xbf16>, tensor<1x5xi64>) -> (tensor<1x16x4x8xbf16>, tensor<1x4x16xf32>)
  // 2·B·Hq·pairs·(3D + 2Dv).
  // CHECK-NEXT: tg.attention_grad flops=87040
  %dq, %dk, %dv = tg.attention_grad %o, %q, %k, %k, %o, %lse {causal, scale = 0.35 : f64} : (tensor<2x16x4x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x4x8xbf16>, tensor<2x4x16xf32>) -> (tensor<2x16x4x8xbf16>, tensor<2x16x2x8xbf16>, tensor<2x16x2x8xbf16>)
  // CHECK-NEXT: tg.layer_norm flops=8192 bytes_read=4608 bytes_written=4224
  %n, %mean, %rstd = tg.layer_norm %xf, %wf, %wf {epsilon = 1.0e-6 : f64} : (tensor<2x8x64xf32>, tensor<64xf32>, tensor<64xf32>) -> (tensor<2x8x64xf32>, tensor<2x8xf32>, tensor<2x8xf32>)
  // A reshape is a view: no work, no traffic.
  // CHECK-NEXT: tg.reshape flops=0 bytes_read=0 bytes_written=0
  %r = tg.reshape %big : tensor<7x1025x64xbf16> -> tensor<7175x64xbf16>
  // A slice reads only what it keeps.
  // CHECK-NEXT: tg.slice flops=0 bytes_read=917504 bytes_written=917504
  %s = tg.slice %big {offsets = array<i64: 0, 1, 0>} : tensor<7x1025x64xbf16> -> tensor<7x1024x64xbf16>
  // An embedding reads the gathered rows and the ids, not the whole table.
  // CHECK-NEXT: tg.embedding flops=0 bytes_read=3456 bytes_written=3072
  %e = tg.embedding %table, %ids : (tensor<100x32xbf16>, tensor<2x24xi64>) -> tensor<2x24x32xbf16>
  // CHECK-NEXT: tg.cross_entropy flops=18400 bytes_read=9568 bytes_written=188
  %loss, %clse = tg.cross_entropy %logits, %labels : (tensor<46x100xbf16>, tensor<46xi64>) -> (tensor<f32>, tensor<46xf32>)
  // CHECK-NEXT: tg.fill flops=0 bytes_read=0 bytes_written=4
  %one = tg.fill 1.0 : tensor<f32>
  // 16 tokens in 4 chunks: 2·16·100·16 + 4·1600 FLOPs; the hidden state
  // (512 B), the weight once per chunk (4 · 3200), labels and lse (16 · 12),
  // the chunks of logits written and read back (3200).
  // CHECK-NEXT: tg.linear_cross_entropy flops=57600 bytes_read=16704 bytes_written=3268
  %lloss, %llse = tg.linear_cross_entropy %hl, %wl, %yl {chunk_tokens = 4 : i64} : (tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>) -> (tensor<f32>, tensor<2x8xf32>)
  // The logits again, dX and dW (3 · 51200 + 3 · 1600); dW summed in an f32
  // buffer (6400 B) read and written per chunk, rounded once.
  // CHECK-NEXT: tg.linear_cross_entropy_grad flops=158400 bytes_read=62016 bytes_written=35712
  %ldh, %ldw = tg.linear_cross_entropy_grad %one, %hl, %wl, %yl, %llse {chunk_tokens = 4 : i64} : (tensor<f32>, tensor<2x8x16xbf16>, tensor<100x16xbf16>, tensor<2x8xi64>, tensor<2x8xf32>) -> (tensor<2x8x16xbf16>, tensor<100x16xbf16>)
  // CHECK-NEXT: tg.global_norm flops=13296 bytes_read=13296 bytes_written=4
  %norm = tg.global_norm %g, %logits : (tensor<32x64xbf16>, tensor<46x100xbf16>) -> tensor<f32>
  // CHECK-NEXT: tg.adamw flops=32768 bytes_read=28684 bytes_written=28672
  %a0, %a1, %a2, %a3 = tg.adamw %master, %master, %master, %g, %one, %step {lr = 1.0e-5 : f64, beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64} : (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xbf16>, tensor<f32>, tensor<i64>) -> (tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xf32>, tensor<32x64xbf16>)
  // CHECK-NEXT: tg.gelu flops=8192 bytes_read=2048 bytes_written=2048
  %gl = tg.gelu %h : tensor<2x8x64xbf16>
  // Elementwise default: one FLOP per result element, a broadcast operand read once.
  // CHECK-NEXT: tg.add flops=1024 bytes_read=2176 bytes_written=2048
  %add = tg.add %h, %hb : tensor<2x8x64xbf16>, tensor<64xbf16> -> tensor<2x8x64xbf16>
  // Host copies run on the copy engines: nothing on the compute roofline.
  // CHECK-NEXT: tg.offload flops=0 bytes_read=0 bytes_written=0
  %off = tg.offload %h : tensor<2x8x64xbf16>
  // CHECK-NEXT: tg.comm_wait flops=0
  %ready = tg.comm_wait %off : (tensor<2x8x64xbf16>) -> tensor<2x8x64xbf16>
  // CHECK-NEXT: tg.prefetch flops=0 bytes_read=0 bytes_written=0
  %back = tg.prefetch %ready : tensor<2x8x64xbf16>
  return
}
