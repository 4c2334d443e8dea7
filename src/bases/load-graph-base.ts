import { UsageError } from '../errors.js';
import { GraphConversionError } from '../graph/errors.js';
import { resolvePackageFile } from '../runtime/tfjs/graph-loader.js';
import type { Base } from './base.js';
import { loadFineTunableGraphBase } from './fine-tunable-graph-base.js';
import { loadOnnxGraphBase, loadTfjsGraphBase, type OnnxGraphBase, type TfjsGraphBase } from './graph-base.js';
import { resolveGraphSpec, type GraphBaseOverrides, type GraphBaseSpec } from './spec.js';

export type GraphBase = TfjsGraphBase | OnnxGraphBase;

const ENGINES: ReadonlyArray<Base['engine']> = ['onnxruntime', 'tfjs'];

/**
 * Chooses the engine for a graph base. Loads it on `overrides.engine`; without one, on ONNX
 * Runtime, or on tfjs when the graph uses an op the converter lacks. An explicit `onnxruntime`
 * fails on such a graph instead.
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
      ...(overrides.onnxThread !== undefined ? { onnxThread: overrides.onnxThread } : {}),
    };
    try {
      // A spec with fine-tuning blocks gives a base that can also train them.
      const load = effective.fineTune ? loadFineTunableGraphBase : loadOnnxGraphBase;
      return await load(effective, resolvePackageFile(spec.model), options);
    } catch (err) {
      if (engine === 'onnxruntime' || !(err instanceof GraphConversionError)) throw err;
    }
  }
  return loadTfjsGraphBase(spec, overrides);
}
