// How the dashboard and `pipeline.ts graph` group nodes. Node ids follow `name[a=1,b=2,…]` (see
// sweep.ts: pointId): nodes that differ only in their LAST coordinate form one group — every
// checkpoint of one run, every seed of one setting — so a 200-node graph reads as a dozen boxes.

/** The group of a node id: the id without its last coordinate (`evaluate[seed=0,step=5]` → `evaluate[seed=0]`; `tasks[M=1]` → `tasks`). */
export function groupOf(id: string): string {
  const m = /^([^[]*)\[(.*)\]$/.exec(id);
  if (!m) return id;
  const coords = splitCoords(m[2]);
  coords.pop();
  return coords.length ? `${m[1]}[${coords.join(',')}]` : m[1];
}

/** What tells a node apart inside its group (the last coordinate), or the id itself. */
export function labelInGroup(id: string): string {
  const m = /^([^[]*)\[(.*)\]$/.exec(id);
  if (!m) return id;
  return splitCoords(m[2]).pop() ?? id;
}

/** Coordinates split at top-level commas (a value may itself hold brackets). */
function splitCoords(inner: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of inner) {
    if (ch === '[' || ch === '(' || ch === '{') depth++;
    else if (ch === ']' || ch === ')' || ch === '}') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** `llc[seed=0,M=inf,step=40]` with x = 'step' → `llc[seed=0,M=inf]`: the line a series point belongs to. */
export function withoutCoordinate(id: string, name: string): string {
  const m = /^([^[]*)\[(.*)\]$/.exec(id);
  if (!m) return id;
  const coords = splitCoords(m[2]).filter((c) => !c.startsWith(`${name}=`));
  return coords.length ? `${m[1]}[${coords.join(',')}]` : m[1];
}
