// RUN: internvl-opt %s --tg-plan-memory --tg-verify-memory-plan | FileCheck %s

// The last op reads %0 last, but %0 is returned and the return reads it after
// every op: the add may not write over it and gets bytes of its own.
// CHECK: tg.neg {{.*}}tg.alloc = [#tg.alloc<arena, 0, 256>]
// CHECK: tg.add {{.*}}tg.alloc = [#tg.alloc<arena, 256, 256>]
func.func @forward(%x: tensor<64xf32> {tg.kind = "input", tg.name = "x"}) -> (tensor<64xf32>, tensor<64xf32>) {
  %0 = tg.neg %x : tensor<64xf32>
  %1 = tg.add %0, %x : tensor<64xf32>, tensor<64xf32> -> tensor<64xf32>
  return %0, %1 : tensor<64xf32>, tensor<64xf32>
}
