// Sweep expansion: `sweep: { seed: [0, 1], M: [4, inf] }` next to fixed keys → one point per combination.

/**
 * Cartesian product of the lists under `section.sweep`, each point merged over the fixed keys.
 * Order is stable: the first sweep key varies slowest (like nested loops written in key order).
 */
export function expandSweep<T extends Record<string, unknown>>(section: T & { sweep?: Record<string, unknown[]> }): Array<Omit<T, 'sweep'> & Record<string, unknown>> {
  if (section === null || typeof section !== 'object' || Array.isArray(section)) {
    throw new Error(`expandSweep: expected an object, got ${JSON.stringify(section)}`);
  }
  const { sweep, ...fixed } = section as Record<string, unknown> & { sweep?: unknown };
  if (sweep === undefined) return [fixed as Omit<T, 'sweep'>];
  if (sweep === null || typeof sweep !== 'object' || Array.isArray(sweep)) {
    throw new Error(`sweep: expected a map of param name → list of values, got ${JSON.stringify(sweep)}`);
  }
  const axes = Object.entries(sweep as Record<string, unknown>).filter(([, v]) => v !== undefined);
  for (const [key, values] of axes) {
    if (key in fixed) throw new Error(`sweep.${key}: also set as a fixed value (${JSON.stringify(fixed[key])}); set it in one place only`);
    if (!Array.isArray(values)) throw new Error(`sweep.${key}: expected a list of values, got ${JSON.stringify(values)}`);
    if (values.length === 0) throw new Error(`sweep.${key}: empty list (a sweep needs at least one value)`);
  }
  let points: Record<string, unknown>[] = [{}];
  for (const [key, values] of axes) {
    points = points.flatMap((p) => (values as unknown[]).map((v) => ({ ...p, [key]: v })));
  }
  return points.map((p) => ({ ...fixed, ...p }) as Omit<T, 'sweep'>);
}

/** `{ seed: 0, M: Infinity }` → `seed=0,M=inf`, for node ids like `train[seed=0,M=inf]`. */
export function pointId(point: Record<string, unknown>): string {
  return Object.entries(point)
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(',');
}

function formatValue(v: unknown): string {
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}
