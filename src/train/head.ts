import type * as tfl from '@tensorflow/tfjs-layers';
import * as layers from '@tensorflow/tfjs-layers';

/** The study's head: Dense 256 relu, Dense 128 relu, Dropout 0.4, Dense 1 sigmoid. */
export interface HeadConfig {
  units: number[];
  dropout: number;
}

export const STUDY_HEAD: Readonly<HeadConfig> = Object.freeze({ units: [256, 128], dropout: 0.4 });

/** Builds the head as a tfjs-layers model, so that it saves as model.json a browser can load. */
export function createHead(inputDim: number, config: HeadConfig = STUDY_HEAD): tfl.Sequential {
  const model = layers.sequential({ name: 'head' });
  config.units.forEach((units, i) => {
    model.add(layers.layers.dense({ units, activation: 'relu', name: `dense_${i + 1}`, ...(i === 0 ? { inputShape: [inputDim] } : {}) }));
  });
  model.add(layers.layers.dropout({ rate: config.dropout, name: 'dropout' }));
  model.add(layers.layers.dense({ units: 1, activation: 'sigmoid', name: 'output' }));
  return model;
}
