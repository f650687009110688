// A tiny self-describing container for named float32 tensors (checkpoints, datasets, outputs).
// Layout: magic "SWT1" | u32 header length | JSON header | padding to 4 bytes | float32 LE data.
// Pure encoding: callers do the file I/O.

export interface Tensor {
  shape: number[];
  data: Float32Array;
}
export type TensorMap = Record<string, Tensor>;

const MAGIC = 0x31545753; // "SWT1" little-endian

interface Header {
  tensors: { name: string; shape: number[]; offset: number; length: number }[];
  meta: Record<string, unknown>;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function encodeTensors(tensors: TensorMap, meta: Record<string, unknown> = {}): Uint8Array {
  let offset = 0;
  const entries: Header['tensors'] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (t.data.length !== size(t.shape)) {
      throw new Error(`tensor '${name}': shape [${t.shape}] needs ${size(t.shape)} values, got ${t.data.length}`);
    }
    entries.push({ name, shape: t.shape, offset, length: t.data.length });
    offset += t.data.length;
  }
  const header = new TextEncoder().encode(JSON.stringify({ tensors: entries, meta } satisfies Header));
  const dataStart = Math.ceil((8 + header.length) / 4) * 4;
  const bytes = new Uint8Array(dataStart + offset * 4);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, header.length, true);
  bytes.set(header, 8);
  const data = new Float32Array(bytes.buffer, dataStart, offset);
  for (const e of entries) data.set(tensors[e.name].data, e.offset);
  return bytes;
}

export function decodeTensors(bytes: Uint8Array): { tensors: TensorMap; meta: Record<string, unknown> } {
  if (bytes.length < 8) throw new Error('tensor file: too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new Error('tensor file: bad magic (expected SWT1)');
  const headerLength = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Header;
  const dataStart = Math.ceil((8 + headerLength) / 4) * 4;
  const total = header.tensors.reduce((n, e) => n + e.length, 0);
  if (bytes.length !== dataStart + total * 4) {
    throw new Error(`tensor file: expected ${dataStart + total * 4} bytes, got ${bytes.length} (truncated?)`);
  }
  // Copy so the result is aligned and independent of the caller's buffer.
  const all = new Float32Array(total);
  new Uint8Array(all.buffer).set(bytes.subarray(dataStart));
  const tensors: TensorMap = {};
  for (const e of header.tensors) {
    tensors[e.name] = { shape: e.shape, data: all.subarray(e.offset, e.offset + e.length) };
  }
  return { tensors, meta: header.meta };
}
