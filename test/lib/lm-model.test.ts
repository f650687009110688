// The language model against an independent PyTorch implementation (tools/oracle/lm_oracle.py →
// test/fixtures/lm-oracle.json), plus its parameter count, initialisation and input checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { PAPER_LM, lmForward, lmInitWeights, lmLossAndGrad, lmParamCount, lmParamShapes, type LmConfig, type LmWeights } from '../../lib/lm/model.ts';
import { AdamW } from '../../lib/lm/adamw.ts';
import { rngStream } from '../../lib/rng.ts';
import { relErr } from './compare.ts';

interface Fixture {
  config: LmConfig;
  batch: { B: number; T: number; tokens: number[] };
  params: Record<string, { shape: number[]; data: string }>;
  logits: string;
  attention: string[];
  ablatedLogits: string;
  perPositionLoss: number[];
  loss: number;
  grads: Record<string, string>;
  adamw: { lr: number; weight_decay: number; steps: number; lossAfterEachStep: number[] };
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/lm-oracle.json', import.meta.url), 'utf8')) as Fixture;
const f32 = (b64: string) => {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const { config: cfg } = fixture;
const { B, T } = fixture.batch;
const tokens = Int32Array.from(fixture.batch.tokens);
const weights = (): LmWeights => Object.fromEntries(Object.entries(fixture.params).map(([n, p]) => [n, f32(p.data)]));

test('the paper configuration has 3,355,016 parameters', () => {
  assert.is(lmParamCount(PAPER_LM), 3_355_016);
  const shapes = Object.fromEntries(lmParamShapes(PAPER_LM).map((p) => [p.name, p.shape]));
  assert.equal(shapes['blocks.1.attn.W_Q'], [8, 256, 32]);
  assert.equal(shapes['blocks.0.attn.W_O'], [8, 32, 256]);
  assert.equal(shapes['unembed.W_U'], [256, 5000]);
  assert.equal(shapes['pos_embed.W_pos'], [1024, 256]);
});

test('the fixture uses our parameter names and shapes, in our order', () => {
  assert.equal(Object.keys(fixture.params), lmParamShapes(cfg).map((p) => p.name));
  assert.equal(Object.values(fixture.params).map((p) => p.shape), lmParamShapes(cfg).map((p) => p.shape));
});

test('forward logits and attention patterns agree with PyTorch to 1e-5 of scale (T < n_ctx)', () => {
  const { logits, attention } = lmForward(cfg, weights(), tokens, B, T, { attention: true });
  assert.ok(relErr(logits, f32(fixture.logits)) <= 1e-5, `logits ${relErr(logits, f32(fixture.logits))}`);
  attention!.forEach((a, l) => assert.ok(relErr(a, f32(fixture.attention[l])) <= 1e-5, `attention ${l}`));
  const ablated = lmForward(cfg, weights(), tokens, B, T, { ablatePositions: true }).logits;
  assert.ok(relErr(ablated, f32(fixture.ablatedLogits)) <= 1e-5);
  // The ablation matters: it is not the same as the intact forward.
  assert.ok(relErr(ablated, f32(fixture.logits)) > 1e-2);
});

test('loss, per-position loss and every gradient agree with PyTorch to 1e-5 of scale', () => {
  const { loss, perPosition, grads } = lmLossAndGrad(cfg, weights(), tokens, B, T);
  assert.ok(Math.abs(loss - fixture.loss) <= 1e-5 * fixture.loss, `${loss} vs ${fixture.loss}`);
  assert.ok(relErr(perPosition, fixture.perPositionLoss) <= 1e-5);
  assert.equal(Object.keys(grads), Object.keys(fixture.grads));
  const maxAbs = (x: ArrayLike<number>) => Array.from(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (const [name, g] of Object.entries(fixture.grads)) {
    if (name.endsWith('attn.b_K')) {
      // A key bias adds the same q·b_K to every score of a query: softmax ignores it, so the exact
      // gradient is 0 and both implementations return rounding noise. Check that it is noise.
      const wk = maxAbs(f32(fixture.grads[name.replace('b_K', 'W_K')]));
      assert.ok(maxAbs(grads[name]) <= 1e-5 * wk && maxAbs(f32(g)) <= 1e-5 * wk, name);
      continue;
    }
    const e = relErr(grads[name], f32(g));
    assert.ok(e <= 1e-5, `${name}: ${e}`);
  }
  // W_pos rows at positions ≥ T get no gradient.
  const gPos = grads['pos_embed.W_pos'];
  assert.ok(gPos.subarray(T * cfg.dModel).every((x) => x === 0));
});

test('three AdamW steps (weight decay on every parameter) give PyTorch\'s losses', () => {
  const w = weights();
  const opt = new AdamW(w, fixture.adamw.weight_decay);
  for (let s = 0; s < fixture.adamw.steps; s++) {
    opt.step(w, lmLossAndGrad(cfg, w, tokens, B, T).grads, fixture.adamw.lr);
    const loss = lmLossAndGrad(cfg, w, tokens, B, T).loss;
    const expect = fixture.adamw.lossAfterEachStep[s];
    assert.ok(Math.abs(loss - expect) <= 1e-5 * expect, `step ${s + 1}: ${loss} vs ${expect}`);
  }
});

test('initialisation: W ~ N(0, (0.8/√d)²), biases 0, LayerNorm γ = 1, β = 0; deterministic per seed', () => {
  const c: LmConfig = { layers: 2, dModel: 64, heads: 4, dHead: 16, nCtx: 64, vocab: 512 };
  const w = lmInitWeights(c, rngStream(3, 'init'));
  const std = 0.8 / 8;
  for (const name of ['embed.W_E', 'unembed.W_U', 'blocks.1.attn.W_Q', 'pos_embed.W_pos']) {
    const x = w[name];
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length);
    assert.ok(Math.abs(mean) < 4 * std / Math.sqrt(x.length), `${name} mean ${mean}`);
    assert.ok(Math.abs(sd / std - 1) < 0.05, `${name} sd ${sd}`);
  }
  for (const name of ['blocks.0.attn.b_Q', 'blocks.0.attn.b_O', 'unembed.b_U', 'blocks.0.ln1.b', 'ln_final.b']) assert.ok(w[name].every((v) => v === 0), name);
  for (const name of ['blocks.0.ln1.w', 'blocks.1.ln1.w', 'ln_final.w']) assert.ok(w[name].every((v) => v === 1), name);
  assert.equal(lmInitWeights(c, rngStream(3, 'init'))['blocks.1.attn.W_V'], w['blocks.1.attn.W_V']);
  assert.not.equal(lmInitWeights(c, rngStream(4, 'init'))['blocks.1.attn.W_V'], w['blocks.1.attn.W_V']);
});

test('bad inputs are named: token out of range, T > n_ctx, missing parameter', () => {
  const w = weights();
  const bad = tokens.slice();
  bad[5] = cfg.vocab;
  assert.throws(() => lmForward(cfg, w, bad, B, T), /token 23 at index 5/);
  assert.throws(() => lmForward(cfg, w, new Int32Array(13), 1, 13), /exceeds the context n_ctx = 12/);
  const { ['blocks.1.attn.W_K']: _, ...missing } = w;
  assert.throws(() => lmForward(cfg, missing, tokens, B, T), /missing parameter blocks\.1\.attn\.W_K/);
});

test.run();
