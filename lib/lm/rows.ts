// Token rows for language-model training, as TransformerLens's tokenize_and_concatenate builds them:
// documents joined with a separator token (the BOS/end-of-text token), the stream cut into
// (nCtx − 1)-token chunks (the remainder dropped), and BOS prepended to every chunk.

export function concatenateRows(docs: ArrayLike<number>[], nCtx: number, bos: number): Int32Array {
  if (!Number.isInteger(nCtx) || nCtx < 2) throw new Error(`concatenateRows: nCtx must be an integer ≥ 2, got ${nCtx}`);
  let total = 0;
  docs.forEach((d, i) => (total += d.length + (i > 0 ? 1 : 0)));
  const chunk = nCtx - 1;
  const rows = Math.floor(total / chunk);
  const out = new Int32Array(rows * nCtx);
  let row = 0, col = 0;
  const push = (t: number) => {
    if (row >= rows) return;
    if (col === 0) out[row * nCtx] = bos;
    out[row * nCtx + 1 + col] = t;
    if (++col === chunk) (row++, (col = 0));
  };
  docs.forEach((d, i) => {
    if (i > 0) push(bos);
    for (let j = 0; j < d.length; j++) push(d[j]);
  });
  return out;
}
