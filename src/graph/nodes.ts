/** The tfjs graph-model format (model.json's `modelTopology.node` and its weights manifest), as typed data. */

/** One attribute of a node in model.json (TensorFlow's AttrValue, as JSON). */
export interface TfjsAttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: Array<string | number>; f?: number[] };
  shape?: { dim?: Array<{ size?: string | number }>; unknownRank?: boolean };
  tensor?: TfjsInlineTensor;
}

/** A constant stored inside model.json rather than in the weight shards. */
export interface TfjsInlineTensor {
  dtype?: string;
  tensorShape?: { dim?: Array<{ size?: string | number }> };
  floatVal?: number[];
  intVal?: Array<number | string>;
  tensorContent?: string;
}

/** One node of `modelTopology.node`. */
export interface TfjsGraphNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfjsAttrValue>;
}

/** A decoded constant: float32 (dequantised if stored quantised) or int32. */
export interface GraphWeight {
  dtype: 'float32' | 'int32';
  shape: number[];
  values: Float32Array | Int32Array;
}

/** One entry of a weights manifest, as model.json lists it. */
export interface GraphWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}
