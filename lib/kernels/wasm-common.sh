# Sourced by build.sh and build-lm.sh: the clang flags of both kernels and the relaxed-SIMD opcode fix.
#
# clang-14 emits relaxed_madd under its pre-standard opcode (0xfd 0xaf 0x01); the standard one
# (0xfd 0x85 0x02, what V8 decodes) has the same length, so fix_fma rewrites it in place — after
# checking with llvm-objdump that every occurrence of those bytes is such an instruction.
FLAGS="--target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -ffreestanding -fno-math-errno -Wall -Wextra -Wno-unused-parameter
  -Wl,--no-entry -Wl,--max-memory=4294967296 -Wl,--strip-all"

# fix_fma IN OUT: OUT is IN (a -DFMA -mrelaxed-simd build) with standard relaxed_madd opcodes
fix_fma() {
  want=$(llvm-objdump-14 -d "$1" | grep -c 'f32x4\.fma') || true
  python3 - "$1" "$2" "$want" <<'PY'
import sys
src, dst, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
b = open(src, 'rb').read()
old, new = b'\xfd\xaf\x01', b'\xfd\x85\x02'
if b.count(old) != want or want == 0:
    sys.exit(f'{src}: {b.count(old)} byte matches for {want} f32x4.fma instructions: refusing to patch')
open(dst, 'wb').write(b.replace(old, new))
PY
}
