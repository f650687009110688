// The safetensors format (Hugging Face): an 8-byte little-endian header length n, n bytes of JSON
// { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: {…} }, then the raw
// little-endian tensor bytes (offsets relative to the end of the header). Pure: bytes in, floats out.

export interface SafeTensor {
  dtype: string;
  shape: number[];
  /** Values converted to float32. */
  data: Float32Array;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** Parses a safetensors file's bytes; `file` names it in errors. Only the tensors in `want` (if given) are decoded. */
export function parseSafetensors(bytes: Uint8Array, file: string, want?: Set<string>): { tensors: Record<string, SafeTensor>; metadata: Record<string, string>; names: string[] } {
  if (bytes.length < 8) throw new Error(`${file}: not a safetensors file (only ${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n <= 0 || 8 + n > bytes.length) throw new Error(`${file}: not a safetensors file (header length ${n} does not fit in ${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${file}: safetensors header is not JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const tensors: Record<string, SafeTensor> = {};
  let metadata: Record<string, string> = {};
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (want && !want.has(name)) continue;
    const width = BYTES[dtype];
    if (!width) throw new Error(`${file}: tensor ${name} has dtype ${dtype}; supported: ${Object.keys(BYTES).join(', ')}`);
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offsets;
    if (end - begin !== count * width || dataStart + end > bytes.length) {
      throw new Error(`${file}: tensor ${name} [${shape}] ${dtype} needs ${count * width} bytes at ${begin}…${end}, which the file does not hold`);
    }
    const at = dataStart + begin;
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const o = at + i * width;
      if (dtype === 'F32') data[i] = view.getFloat32(o, true);
      else if (dtype === 'F64') data[i] = view.getFloat64(o, true);
      else if (dtype === 'F16') data[i] = f16ToF32(view.getUint16(o, true));
      else data[i] = new Float32Array(new Uint32Array([view.getUint16(o, true) << 16]).buffer)[0]; // BF16: the high half of an F32
    }
    tensors[name] = { dtype, shape, data };
  }
  return { tensors, metadata, names };
}

/** Writes float32 tensors as a safetensors file (for tests and exports). */
export function encodeSafetensors(tensors: Record<string, { shape: number[]; data: Float32Array }>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // the format pads the header with spaces
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
