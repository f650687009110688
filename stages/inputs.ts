// Reading a RunContext's inputs, with errors that name the stage, the input and the expected form.
type Inputs = Record<string, string | string[]>;

/** A single input: a node's output directory, or one file of it. */
export function inputPath(stage: string, inputs: Inputs, name: string): string {
  const v = inputs[name];
  if (typeof v !== 'string') throw new Error(`${stage}: input '${name}' must be a single path, got ${JSON.stringify(v)}`);
  return v;
}

export function optionalInputPath(stage: string, inputs: Inputs, name: string): string | undefined {
  return inputs[name] === undefined ? undefined : inputPath(stage, inputs, name);
}

/** A list input, in declaration order. */
export function inputList(stage: string, inputs: Inputs, name: string, { optional = false } = {}): string[] {
  const v = inputs[name];
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) throw new Error(`${stage}: input '${name}' must be a list of paths, got ${JSON.stringify(v)}`);
  return v;
}
