import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildGraph, selectTargets } from '../../engine/key/graph.ts';
import { fileRef, ref } from '../../engine/index.ts';
import type { NodeDecl } from '../../engine/types.ts';
import { concatStage, sleepyStage, sourceStage } from './fixtures/stages.ts';

const src = (id: string, value = 1): NodeDecl => ({ id, stage: sourceStage, params: { label: id, value }, inputs: {} });
const cat = (id: string, inputs: NodeDecl['inputs'], tags?: string[]): NodeDecl => ({ id, stage: concatStage, params: { label: id }, inputs, tags });

test('topological order puts every node after its inputs', () => {
  const g = buildGraph([cat('c', { a: ref('b'), b: [ref('a'), fileRef('a', 'value.txt')] }), cat('b', { x: ref('a') }), src('a'), src('z')]);
  const pos = (id: string) => g.order.indexOf(id);
  assert.ok(pos('a') < pos('b') && pos('b') < pos('c'));
  assert.is(g.order.length, 4);
  assert.equal(g.nodes.get('c')!.upstream, ['b', 'a']);
  assert.equal(g.nodes.get('a')!.downstream.sort(), ['b', 'c']);
  assert.equal(g.nodes.get('a')!.params, { label: 'a', value: 1, other: '', pad: 0 }, 'params are the schema output');
});

test('a cycle is an error that names the cycle in data-flow order', () => {
  try {
    buildGraph([src('s'), cat('x', { i: ref('z'), s: ref('s') }), cat('y', { i: ref('x') }), cat('z', { i: ref('y') }), cat('after', { i: ref('z') })]);
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
      cat('c', { i: ref('nope'), f: fileRef('a', '../x') }),
    ]);
    assert.unreachable('no error');
  } catch (e) {
    const msg = (e as Error).message;
    assert.match(msg, /duplicate node id a/);
    assert.match(msg, /node p: params\.value: expected number, got "one"/);
    assert.match(msg, /node q: params\.ms: expected number, got nothing \(key missing\)/);
    assert.match(msg, /node c: input i refers to unknown node nope/);
    assert.match(msg, /node c: input f: file path "\.\.\/x" must be relative/);
  }
});

test('targets: node id, stage name, tag, plural tag; each with its upstream', () => {
  const g = buildGraph([src('a'), src('b'), cat('m', { i: ref('a') }), cat('fig', { i: ref('m') }, ['figure']), cat('other', { i: ref('b') })]);
  assert.equal(selectTargets(g, []).sort(), ['a', 'b', 'fig', 'm', 'other']);
  assert.equal(selectTargets(g, ['m']).sort(), ['a', 'm']);
  assert.equal(selectTargets(g, ['figures']).sort(), ['a', 'fig', 'm']);
  assert.equal(selectTargets(g, ['figure']).sort(), ['a', 'fig', 'm']);
  assert.equal(selectTargets(g, ['source']).sort(), ['a', 'b']);
  assert.equal(selectTargets(g, ['concat']).sort(), ['a', 'b', 'fig', 'm', 'other']);
  assert.throws(() => selectTargets(g, ['x', 'y']), /unknown targets x, y: expected a node id, a stage name or a tag \(concat, figure, source\)/);
});

test.run();
