// The device policy and adapter naming, without a GPU: DEVICE parsing, the resources a GPU-heavy
// stage requests, the device a node computes on, and how an adapter is described in records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeAdapter } from '../../lib/backend.ts';
import { deviceResources, grantedDevice, requestedDevice } from '../../lib/device.ts';

test('DEVICE: unset, empty or cpu → cpu; gpu → gpu; anything else is an error naming the value', () => {
  assert.is(requestedDevice({}), 'cpu');
  assert.is(requestedDevice({ DEVICE: '' }), 'cpu');
  assert.is(requestedDevice({ DEVICE: 'cpu' }), 'cpu');
  assert.is(requestedDevice({ DEVICE: 'gpu' }), 'gpu');
  assert.throws(() => requestedDevice({ DEVICE: 'cuda' }), /DEVICE must be 'gpu', 'cpu' or unset, got 'cuda'/);
});

test('GPU-heavy stages request one GPU only under DEVICE=gpu; a node computes on what it was granted', () => {
  const saved = { DEVICE: process.env.DEVICE, EGL_PLATFORM: process.env.EGL_PLATFORM, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR };
  try {
    process.env.DEVICE = 'gpu';
    assert.equal(deviceResources(1), { cpu: 1, gpu: 1 });
    assert.ok(process.env.EGL_PLATFORM, 'the GPU environment is prepared on the main thread');
    process.env.DEVICE = 'cpu';
    assert.equal(deviceResources(2), { cpu: 2 });
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  assert.is(grantedDevice({ gpu: 1 }), 'gpu');
  assert.is(grantedDevice({ gpu: 0 }), 'cpu');
});

test('adapters are described as hardware or software, with their names', () => {
  assert.is(describeAdapter({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA: 550.54' }), 'hardware: nvidia, NVIDIA H200, NVIDIA: 550.54');
  assert.is(
    describeAdapter({ vendor: '', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6' }),
    'software: llvmpipe-llvm-15-0-6-256-bits, OpenGL version OpenGL ES 3.2 Mesa 22.3.6',
  );
  assert.is(describeAdapter({ vendor: 'google', device: 'SwiftShader Device (Subzero)' }), 'software: google, SwiftShader Device (Subzero)');
  assert.is(describeAdapter({ vendor: 'x', device: 'y', isFallbackAdapter: true }), 'software: x, y');
  assert.is(describeAdapter(undefined), 'hardware: unnamed adapter');
});

test.run();
