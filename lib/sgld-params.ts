// The SGLD sampler's two parameterisations (docs/llc.md) and the map between them. Kept apart from
// lib/sgld.ts so that reading a sampler config does not load TensorFlow.js.

/** The sampler in devinterp's parameterisation: step size ε, inverse temperature nβ, localisation γ. */
export interface SgldHyper {
  eps: number;
  nbeta: number;
  gamma: number;
}

/** The sweeps' "scale" parameterisation: w ← w − g·∇L − ℓ·(w − w*) + √s·ξ. */
export interface SgldScale {
  gradientScale: number; // g
  localizationScale: number; // ℓ
  noiseScale: number; // s
}

/** ε = s, nβ = 2g/s, γ = 2ℓ/s (docs/llc.md, "Two parameterisations"). */
export function fromScale({ gradientScale: g, localizationScale: l, noiseScale: s }: SgldScale): SgldHyper {
  if (!(s > 0)) throw new Error(`sgld: noiseScale (s) must be > 0, got ${s}`);
  return { eps: s, nbeta: (2 * g) / s, gamma: (2 * l) / s };
}

/** g = ε·nβ/2, ℓ = ε·γ/2, s = ε. */
export function toScale({ eps, nbeta, gamma }: SgldHyper): SgldScale {
  return { gradientScale: (eps * nbeta) / 2, localizationScale: (eps * gamma) / 2, noiseScale: eps };
}
