// Advance widths of DejaVu Sans (the only installed font), in 1/2048 em, read from the TTF hmtx
// table. Text must be measured to lay out axes and legends without overlaps; an unknown
// character counts as 0.62 em, slightly wider than DejaVu's average, so estimates err roomy.
const CHARS = "0123456789 !\"#$%&'()*+,-./:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~ₖŷλ‖−εβγστℓ⁻⁺₁₂δ→≤≥≈×·²³⁰¹⁴⁵⁶⁷⁸⁹ₜ¯∞Δ–…ŵθ°√∑";
const ADVANCES = [1303,1303,1303,1303,1303,1303,1303,1303,1303,1303,651,821,942,1716,1303,1946,1597,563,799,799,1024,1716,651,739,651,690,690,690,1716,1716,1716,1087,2048,1401,1405,1430,1577,1294,1178,1587,1540,604,604,1343,1141,1767,1532,1612,1235,1612,1423,1300,1251,1499,1401,2025,1403,1251,1403,799,690,799,1716,1024,1024,1255,1300,1126,1300,1260,721,1300,1298,569,569,1186,569,1995,1298,1253,1300,1300,842,1067,803,1298,1212,1675,1212,1212,1075,1303,690,1303,1716,872,1212,1212,1024,1716,1107,1307,1212,1298,1233,846,1081,1081,821,821,1253,1716,1716,1716,1716,1716,651,821,821,821,821,821,821,821,821,821,821,604,1024,1706,1401,1024,2048,1675,1253,1024,1305,1380];

const advance = new Map<string, number>([...CHARS].map((c, i) => [c, ADVANCES[i] / 2048]));
// Combining circumflex and macron (ŷ-style hats on λ̂, ℓ̂, t̄) take no advance.
advance.set('\u0302', 0);
advance.set('\u0304', 0);

/** Width in px of `text` set in DejaVu Sans at `fontSize` px (bold ≈ 10% wider). */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const c of text) em += advance.get(c) ?? 0.62;
  return em * fontSize * (bold ? 1.1 : 1);
}
