// Minimal SVG string building. Coordinates are rounded to 0.01 px so files stay small and
// byte-identical across runs (figure nodes are content-hashed like everything else).

export function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A number as SVG writes it: at most 2 decimals, no trailing zeros, no "-0". */
export function n(x: number): string {
  const r = Math.round(x * 100) / 100;
  return Object.is(r, -0) ? '0' : String(r);
}

export type Attrs = Record<string, string | number | undefined | null | false>;

export function attrs(a: Attrs): string {
  let out = '';
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined || v === null || v === false) continue;
    out += ` ${k}="${typeof v === 'number' ? n(v) : esc(v)}"`;
  }
  return out;
}

export function tag(name: string, a: Attrs, children?: string | string[]): string {
  if (children === undefined) return `<${name}${attrs(a)}/>`;
  return `<${name}${attrs(a)}>${Array.isArray(children) ? children.join('') : children}</${name}>`;
}

export function text(x: number, y: number, content: string, a: Attrs = {}): string {
  return tag('text', { x, y, ...a }, esc(content));
}
