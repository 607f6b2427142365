// Parity repair: a systematic Reed-Solomon erasure code over GF(2^8)
// (Cauchy matrix), per block of kBlock consecutive pages of a file.
//
// Parity page j of a block is sum_i coef(j, i) * page_i over the block's kb
// data pages (the last page zero-padded to the parity length). Any kb of
// the kb data and parity pages give back the block: a target missing e
// pages of a block recovers them from any e parity pages it received, so
// when different targets lose different pages, one parity page repairs a
// different page at each of them, and a repair round costs the worst
// target's losses per block, not the union of everybody's.
//
// On the wire a parity datagram (kTypeParity) carries index = block << 8 | j
// (so blocks < 2^24: files up to 3 TB with 1436-byte pages get parity;
// beyond, plain re-sends) and a payload of parityLen() bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <string>
#include <vector>

namespace mrsync {
namespace fec {

// 128 data pages per block: the worst of 10 targets at 1% loss lacks ~3.2
// pages of 128 (2.5% parity) against ~2.0 of 64 (3.2%); 128 parity indices
// are left for the rounds of a block.
constexpr uint32_t kBlock = 128;                 // data pages per block
constexpr uint32_t kMaxParity = 256 - kBlock;    // parity indices per block (Cauchy: x_j = kBlock + j, y_i = i)
constexpr uint32_t kMaxBlocks = 1u << 24;        // index = block << 8 | j

uint8_t mul(uint8_t a, uint8_t b);
uint8_t coef(uint32_t j, uint32_t i);

// dst ^= c * src over n bytes (SIMD where the CPU has it).
void mulAdd(uint8_t* dst, const uint8_t* src, uint8_t c, size_t n);

// The multiply-add kernels this CPU can run ("avx2", "ssse3", "scalar"),
// the one used by default first. useKernel switches to one (false if this
// CPU cannot run it): tests run each, since a machine with AVX2 would never
// run the others.
std::vector<std::string> kernels();
bool useKernel(const std::string& name);

// Parity page j (< kMaxParity) over kb (<= kBlock) data pages of len bytes each.
void encode(const uint8_t* const* data, uint32_t kb, uint32_t j, uint8_t* out, size_t len);

// Fills data[i] for every i in missing from the present data pages and
// parity.size() == missing.size() parity pages (j, bytes). Returns false on
// bad arguments (a Cauchy submatrix is never singular).
bool recover(uint8_t* const* data, uint32_t kb, const std::vector<uint32_t>& missing,
             const std::vector<std::pair<uint32_t, const uint8_t*>>& parity, size_t len);

}  // namespace fec
}  // namespace mrsync
