import { UsageError } from '../errors.js';
import type { Base } from './base.js';
import { loadFineTunableGraphBase } from './fine-tunable-graph-base.js';
import { loadOnnxGraphBase, type OnnxGraphBase } from './onnx-graph-base.js';
import { loadTfjsGraphBase, resolveGraphSpec, type GraphBaseOverrides, type GraphBaseSpec, type TfjsGraphBase } from './tfjs-graph-base.js';
import { resolvePackageFile } from './tfjs-graph-loader.js';
import { GraphConversionError } from './tfjs-graph-to-onnx.js';

/**
 * Chooses the engine for a frozen tfjs graph base. ONNX Runtime runs the graph converted to ONNX
 * several times faster than single-threaded tfjs-wasm, with the same weight files (so the same
 * weightsHash) and the same features within float rounding (test/tfjs-graph-to-onnx.test.ts),
 * so it is the default wherever the converter supports the graph up to the feature node.
 */

export type GraphBase = TfjsGraphBase | OnnxGraphBase;

const ENGINES: ReadonlyArray<Base['engine']> = ['onnxruntime', 'tfjs'];

/**
 * Loads a graph base on `overrides.engine`; without one, on ONNX Runtime, or on tfjs when the
 * graph uses an op the converter lacks. An explicit `onnxruntime` fails on such a graph instead.
 */
export async function loadGraphBase(spec: GraphBaseSpec, overrides: GraphBaseOverrides = {}): Promise<GraphBase> {
  const { engine } = overrides;
  if (engine !== undefined && !ENGINES.includes(engine)) {
    throw new UsageError(`${spec.id}: unknown engine '${String(engine)}' (use ${ENGINES.join(' or ')})`);
  }
  if (engine !== 'tfjs') {
    const effective = resolveGraphSpec(spec, overrides);
    const options = {
      ...(overrides.maxBatch !== undefined ? { maxBatch: overrides.maxBatch } : {}),
      ...(overrides.threads !== undefined ? { threads: overrides.threads } : {}),
    };
    try {
      // A spec with fine-tuning blocks gives a base that can also train them (fine-tunable-graph-base.ts).
      const load = effective.fineTune ? loadFineTunableGraphBase : loadOnnxGraphBase;
      return await load(effective, resolvePackageFile(spec.model), options);
    } catch (err) {
      if (engine === 'onnxruntime' || !(err instanceof GraphConversionError)) throw err;
    }
  }
  return loadTfjsGraphBase(spec, overrides);
}
