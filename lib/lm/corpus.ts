// Corpus text handling for the language model: pure string functions (the stages do the I/O).

/** Brown corpus file names (form C): category letter a–r and a two-digit sample number. */
export const BROWN_FILE = /^c[a-r]\d\d$/;

/** `word/tag` → word; the tag is everything after the last '/' (words may contain '/': 1-1/2/cd). */
function untag(token: string): string {
  const slash = token.lastIndexOf('/');
  return slash > 0 ? token.slice(0, slash) : token;
}

/**
 * One Brown sample (part-of-speech tagged) back to plain prose: tags stripped, `` and '' turned into
 * double quotes, the spaces the tokenisation put before punctuation removed. Paragraphs (blocks
 * separated by blank lines) become lines separated by a blank line; the sentences of a paragraph are
 * joined by spaces.
 */
export function brownToText(tagged: string): string {
  const paragraphs: string[] = [];
  for (const block of tagged.split(/\n\s*\n/)) {
    const words = block.split(/\s+/).filter(Boolean).map(untag);
    if (words.length === 0) continue;
    let text = '';
    let openQuote = false;
    for (const w of words) {
      if (w === '``' || (w === '"' && !openQuote)) {
        text += (text ? ' ' : '') + '"';
        openQuote = true;
        continue;
      }
      if (w === "''" || w === '"') {
        text += '"';
        openQuote = false;
        continue;
      }
      const attach = /^[.,;:!?)\]}%]+$/.test(w) || /^'(s|re|ve|ll|d|m|t)?$/i.test(w) || /^n't$/i.test(w);
      const afterOpen = /["(\[{$]$/.test(text) && (text.endsWith('"') ? openQuote : true);
      text += text && !attach && !afterOpen ? ' ' + w : w;
    }
    paragraphs.push(text);
  }
  return paragraphs.join('\n\n');
}

/** The `field` of every line of a JSONL file; errors name the file, line and what was expected. */
export function parseJsonl(content: string, field: string, file: string): string[] {
  const docs: string[] = [];
  content.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const value = obj && typeof obj === 'object' ? (obj as Record<string, unknown>)[field] : undefined;
    if (typeof value !== 'string') {
      throw new Error(`${file}:${i + 1}: expected an object with a string field "${field}" (set lm.corpus.textField), got ${JSON.stringify(obj).slice(0, 80)}`);
    }
    docs.push(value);
  });
  return docs;
}

/**
 * Documents split into train and test: every document goes to test with probability `testFraction`
 * (decided by a seeded draw per document, so adding documents does not move the others), at least
 * one document each when there are two or more.
 */
export function splitDocuments(docs: string[], testFraction: number, draw: () => number): { train: string[]; test: string[] } {
  const train: string[] = [];
  const test: string[] = [];
  for (const doc of docs) (draw() < testFraction ? test : train).push(doc);
  if (docs.length >= 2 && testFraction > 0 && test.length === 0) test.push(train.pop()!);
  if (docs.length >= 2 && train.length === 0) train.push(test.pop()!);
  return { train, test };
}
