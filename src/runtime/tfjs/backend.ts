import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; the layers bundle registers all of them on import.
import '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { FacegenderError } from '../../errors.js';
import { wasmBatchMatMulTransposedFastPath } from './kernels/batch-mat-mul-transposed.js';
import { wasmConv2DBackpropFilterConfig } from './kernels/conv2d-backprop-filter.js';
import { wasmConv2DBackpropInputFastPath } from './kernels/conv2d-backprop-input.js';
import { wasmDepthwiseConv2dBackpropFilterConfig } from './kernels/depthwise-conv2d-backprop-filter.js';
import { wasmDepthwiseConv2dBackpropInputConfig } from './kernels/depthwise-conv2d-backprop-input.js';
import { wasmMaxPoolGradConfig } from './kernels/max-pool-grad.js';
import type { KernelFastPath } from './kernels/kernel-tensors.js';
import { wasmSumFastPath } from './kernels/sum-leading-axes.js';

export type TfjsBackendName = 'wasm' | 'cpu';

export interface InitTfjsOptions {
  /** Default 'wasm' (XNNPACK, SIMD, one thread). 'cpu' is the pure-JS reference backend, ~50x slower. */
  backend?: TfjsBackendName;
}

export interface TfjsRuntimeInfo {
  backend: string;
  /** Whether the wasm backend runs its SIMD binary. */
  simd: boolean;
  /** XNNPACK threads; tfjs 4.22 disables wasm threads under Node, so 1. */
  threads: number;
  /** Folder the .wasm binaries are read from. */
  wasmDir: string;
}

const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'] as const;

let kernelsReady = false;

/**
 * Our registrations carry the kernel they replaced. A second copy of this module (a test runner
 * that reloads source files but keeps tfjs loaded) then finds tfjs's original under ours instead
 * of wrapping our kernel as its own fallback.
 */
const ORIGINAL = Symbol.for('facegender.tfjs.replaced-kernel');
type MarkedKernelConfig = KernelConfig & { [ORIGINAL]?: KernelConfig | null };

function originalKernel(kernelName: string): KernelConfig | undefined {
  const current = tf.getKernel(kernelName, 'wasm') as MarkedKernelConfig | undefined;
  if (current !== undefined && ORIGINAL in current) return current[ORIGINAL] ?? undefined;
  return current;
}
let wasmDir: string | undefined;
/** Serialises backend switches so concurrent callers never interleave two setBackend calls. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * The package's dist folder holds the .wasm files; pointing tfjs there explicitly keeps loading
 * off the network and independent of where a bundler puts the JavaScript.
 */
function locateWasmBinaries(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('@tensorflow/tfjs-backend-wasm');
  const dir = path.dirname(entry);
  for (const name of WASM_BINARIES) {
    const file = path.join(dir, name);
    if (!existsSync(file)) {
      throw new FacegenderError('the tfjs wasm binary is missing; reinstall @tensorflow/tfjs-backend-wasm', file);
    }
  }
  return dir;
}

/**
 * A fast path registered in place of wasm's own kernel, which still serves the cases the fast
 * path leaves; its setupFunc runs the original's, which binds the wasm function that calls.
 */
function withFallback(path: KernelFastPath, original: KernelConfig | undefined): KernelConfig {
  return {
    kernelName: path.kernelName,
    backendName: 'wasm',
    kernelFunc: (args) => {
      const fast = path.fast(args);
      if (fast !== undefined) return fast;
      if (original === undefined) throw new FacegenderError(`${path.kernelName}: the wasm backend has no kernel of its own for this case`);
      return original.kernelFunc(args);
    },
    ...(original?.setupFunc ? { setupFunc: original.setupFunc } : {}),
  };
}

/**
 * Registers the replacement kernels. The wasm backend of tfjs 4.22 lacks Conv2DBackpropFilter,
 * runs Conv2DBackpropInput as a scalar loop, has a wrong MaxPoolGrad, sums bias gradients
 * slowly, multiplies transposed matrices slowly and lacks both depthwise conv gradients (MobileNet bases); see the kernel files.
 */
function registerKernels(): void {
  if (kernelsReady) return;
  // Silences tfjs's "running in Node.js" banner and duplicate-registration warnings.
  tf.enableProdMode();
  const replacements: (KernelConfig | KernelFastPath)[] = [
    wasmConv2DBackpropFilterConfig,
    wasmConv2DBackpropInputFastPath,
    wasmMaxPoolGradConfig,
    wasmDepthwiseConv2dBackpropFilterConfig,
    wasmDepthwiseConv2dBackpropInputConfig,
    wasmSumFastPath,
    wasmBatchMatMulTransposedFastPath,
  ];
  for (const replacement of replacements) {
    const replacedOriginal = originalKernel(replacement.kernelName);
    const config = 'fast' in replacement ? withFallback(replacement, replacedOriginal) : replacement;
    if (tf.getKernel(config.kernelName, 'wasm') !== undefined) tf.unregisterKernel(config.kernelName, 'wasm');
    tf.registerKernel({ ...config, [ORIGINAL]: replacedOriginal ?? null } as MarkedKernelConfig);
  }
  kernelsReady = true;
}

async function switchTo(backend: TfjsBackendName): Promise<void> {
  if (backend === 'wasm' && wasmDir === undefined) {
    const dir = locateWasmBinaries();
    setWasmPaths(dir + path.sep);
    wasmDir = dir;
  }
  if (tf.getBackend() === backend) return;
  const ok = await tf.setBackend(backend);
  if (!ok || tf.getBackend() !== backend) {
    throw new FacegenderError(`could not start the tfjs ${backend} backend`, backend === 'wasm' ? wasmDir : undefined);
  }
}

/**
 * Starts tfjs on the chosen backend (default wasm) with the replacement training kernels in
 * place, and returns the tfjs-core namespace. Safe to call any number of times; a call with a
 * different backend switches to it. Importing this module also loads tfjs-layers, whose import
 * registers every gradient.
 */
export async function initTfjs(options: InitTfjsOptions = {}): Promise<typeof tf> {
  const backend = options.backend ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu') {
    throw new FacegenderError(`unknown tfjs backend '${String(backend)}' (use wasm or cpu)`);
  }
  registerKernels();
  const step = queue.then(() => switchTo(backend));
  queue = step.catch(() => undefined);
  await step;
  return tf;
}

/** What the running tfjs uses, for logs and benchmark reports. Call after {@link initTfjs}. */
export async function tfjsRuntimeInfo(): Promise<TfjsRuntimeInfo> {
  const backend = tf.getBackend();
  const wasm = backend === 'wasm';
  const simd = wasm && (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
  return { backend, simd, threads: wasm ? getThreadsCount() : 1, wasmDir: wasmDir ?? '' };
}
