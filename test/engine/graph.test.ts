import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildGraph, selectTargets } from '../../engine/key/graph.ts';
import { fileRef, ref } from '../../engine/index.ts';
import type { NodeDecl } from '../../engine/types.ts';
import { concatStage, sleepyStage, sourceStage } from './fixtures/stages.ts';

const src = (id: string, value = 1): NodeDecl => ({ id, stage: sourceStage, params: { label: id, value }, inputs: {} });
const cat = (id: string, inputs: NodeDecl['inputs'], tags?: string[]): NodeDecl => ({ id, stage: concatStage, params: { label: id }, inputs, tags });

test('topological order puts every node after its inputs', () => {
  const g = buildGraph([cat('c', { in: ref('b'), dirs: [ref('a')], files: [fileRef('a', 'value.txt')] }), cat('b', { in: ref('a') }), src('a'), src('z')]);
  const pos = (id: string) => g.order.indexOf(id);
  assert.ok(pos('a') < pos('b') && pos('b') < pos('c'));
  assert.is(g.order.length, 4);
  assert.equal(g.nodes.get('c')!.upstream, ['b', 'a']);
  assert.equal(g.nodes.get('a')!.downstream.sort(), ['b', 'c']);
  assert.equal(g.nodes.get('a')!.params, { label: 'a', value: 1, other: '', pad: 0 }, 'params are the schema output');
});

test('a cycle is an error that names the cycle in data-flow order', () => {
  try {
    buildGraph([src('s'), cat('x', { in: ref('z'), dirs: [ref('s')] }), cat('y', { in: ref('x') }), cat('z', { in: ref('y') }), cat('after', { in: ref('z') })]);
    assert.unreachable('no error');
  } catch (e) {
    const msg = (e as Error).message;
    assert.match(msg, /^cycle in the pipeline: /);
    const cycle = msg.replace('cycle in the pipeline: ', '').split(' → ');
    assert.is(cycle[0], cycle[cycle.length - 1]);
    assert.equal(new Set(cycle), new Set(['x', 'y', 'z']));
    // each arrow is a real edge producer → consumer
    const g: Record<string, string> = { x: 'z', y: 'x', z: 'y' };
    for (let i = 0; i + 1 < cycle.length; i++) assert.is(g[cycle[i + 1]], cycle[i]);
  }
});

test('declaration errors are all reported at once, each naming the node and key path', () => {
  try {
    buildGraph([
      src('a'),
      src('a'),
      { id: 'p', stage: sourceStage, params: { label: 'p', value: 'one' }, inputs: {} },
      { id: 'q', stage: sleepyStage, params: { label: 'q' }, inputs: {} },
      cat('c', { in: ref('nope'), file: fileRef('a', '../x') }),
    ]);
    assert.unreachable('no error');
  } catch (e) {
    const msg = (e as Error).message;
    assert.match(msg, /duplicate node id a/);
    assert.match(msg, /node p: params\.value: expected number, got "one"/);
    assert.match(msg, /node q: params\.ms: expected number, got nothing \(key missing\)/);
    assert.match(msg, /node c: input in refers to unknown node nope/);
    assert.match(msg, /node c: input file: file path "\.\.\/x" must be relative/);
  }
});

test('targets: node id, stage name, tag, plural tag; each with its upstream', () => {
  const g = buildGraph([src('a'), src('b'), cat('m', { in: ref('a') }), cat('fig', { in: ref('m') }, ['figure']), cat('other', { in: ref('b') })]);
  assert.equal(selectTargets(g, []).sort(), ['a', 'b', 'fig', 'm', 'other']);
  assert.equal(selectTargets(g, ['m']).sort(), ['a', 'm']);
  assert.equal(selectTargets(g, ['figures']).sort(), ['a', 'fig', 'm']);
  assert.equal(selectTargets(g, ['figure']).sort(), ['a', 'fig', 'm']);
  assert.equal(selectTargets(g, ['source']).sort(), ['a', 'b']);
  assert.equal(selectTargets(g, ['concat']).sort(), ['a', 'b', 'fig', 'm', 'other']);
  assert.throws(() => selectTargets(g, ['x', 'y']), /unknown targets x, y: expected a node id, a stage name or a tag \(concat, figure, source\)/);
});

test('declared inputs are checked when the graph is built: misspelt name, wrong kind, missing, extra', async () => {
  // A real stage (planning imports it without TensorFlow.js: its computation is a run URL).
  const { evaluateStage } = await import('../../stages/evaluate.ts');
  const ev = (inputs: NodeDecl['inputs']): NodeDecl => ({ id: 'evaluate[step=7]', stage: evaluateStage, params: {}, inputs });
  const good = { checkpoint: fileRef('train', 'checkpoints/step-7.swt'), model: fileRef('train', 'model.json'), tasks: ref('tasks') };
  const base = [src('train'), src('tasks')];
  buildGraph([...base, ev(good)]);
  const problems = (inputs: NodeDecl['inputs']) => {
    try {
      buildGraph([...base, ev(inputs)]);
    } catch (e) {
      return (e as Error).message;
    }
    return assert.unreachable('no error') as never;
  };
  const { checkpoint, ...noCheckpoint } = good;
  const misspelt = problems({ ...noCheckpoint, chekpoint: checkpoint });
  assert.match(misspelt, /node evaluate\[step=7\]: input 'chekpoint' is not declared by stage evaluate \(its inputs: checkpoint: file, model: file, tasks: dir\)/);
  assert.match(misspelt, /node evaluate\[step=7\]: missing input 'checkpoint' \(file: fileRef\(node, path\)\) required by stage evaluate/);
  assert.match(problems({ ...good, tasks: fileRef('tasks', 'tasks.json') }), /node evaluate\[step=7\]: input 'tasks' expects dir \(ref\(node\)\), got file/);
  assert.match(problems({ ...good, model: ref('train') }), /input 'model' expects file \(fileRef\(node, path\)\), got dir/);
  assert.match(problems({ ...good, tasks: [ref('tasks')] }), /input 'tasks' expects dir \(ref\(node\)\), got dir\[\]/);
});

test('list and optional kinds: a list must be all of its kind; optional inputs may be absent', () => {
  const figure = (inputs: NodeDecl['inputs']) => buildGraph([src('a'), src('b'), { id: 'c', stage: concatStage, params: { label: 'c' }, inputs }]);
  figure({});
  figure({ dirs: [], files: [fileRef('a', 'value.txt')] });
  assert.throws(() => figure({ dirs: [ref('a'), fileRef('b', 'value.txt')] }), /node c: input 'dirs' expects dir\[\] \(a list of ref\(node\)\), got a list mixing dir and file/);
  assert.throws(() => figure({ dirs: ref('a') }), /input 'dirs' expects dir\[\] .*got dir$/m);
});

test.run();
