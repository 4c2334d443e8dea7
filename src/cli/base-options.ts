import type { Command } from 'commander';
import type { LoadBaseOptions } from '../zoo/index.js';
import { parseInteger } from './options.js';

/** The options every command that loads a base shares. */
export function addBaseOptions(cmd: Command): Command {
  return cmd
    .option('--weights <file>', 'Keras .h5 weights for vgg16-imagenet / vggface (else $FACEGENDER_VGG16_WEIGHTS / $FACEGENDER_VGGFACE_WEIGHTS, then ~/.keras/models)')
    .option('--preprocess <name>', 'override a VGG16 or ONNX base\'s preprocessing: caffe-imagenet, vggface-v1, study (rescale 1/255, the study\'s choice), raw')
    .option('--input-size <px>', 'input side in pixels for custom (default 64; 224 reproduces the study), VGG16 (default 224; 112 fine-tunes about 4x faster) or an onnx: base', parseInteger(1))
    .option('--layout <layout>', 'pixel layout of an onnx: base, nchw or nhwc', 'nchw')
    .option('--output <name>', 'feature output of an onnx: base (default: its first output)')
    .option('--threads <n>', 'ONNX Runtime threads', parseInteger(1));
}

export function baseOptionsFrom(o: Record<string, unknown>): LoadBaseOptions {
  const out: LoadBaseOptions = {};
  if (o.weights) out.weights = o.weights as string;
  if (o.preprocess) out.preprocess = o.preprocess as string;
  if (o.inputSize) out.inputSize = o.inputSize as number;
  if (o.layout) out.layout = o.layout as LoadBaseOptions['layout'];
  if (o.output) out.output = o.output as string;
  if (o.threads) out.threads = o.threads as number;
  return out;
}
