//===- TestPasses.cpp - registration of the -test-* passes ----------------===//

namespace internvl::test {
void registerTestPrintOpCostPass();

/// Registers every test-only pass; linked only into internvl-opt.
void registerTestPasses() { registerTestPrintOpCostPass(); }
} // namespace internvl::test
