import { WeightsError } from '../errors.js';

/**
 * The graph uses something a converter cannot express (an op, a fused activation, a layout).
 * Loaders may fall back to another engine on it; other WeightsErrors mean broken weights.
 */
export class GraphConversionError extends WeightsError {}
