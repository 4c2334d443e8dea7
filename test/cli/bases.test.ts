import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { facegender } from '../helpers/cli.js';
import { SHARED } from '../helpers/shared.js';

interface Row {
  id: string;
  aliasOf?: string;
  engine: string;
  fineTunable: boolean;
  usable: boolean;
  reason?: string;
  trainedOn: string;
}

describe('facegender bases', () => {
  it('lists every base with its weights, engine, whether it fine-tunes, and why VGG16 is unusable without weights', async () => {
    const home = await mkdtemp(path.join(tmpdir(), 'fg-home-'));
    const env = { HOME: home, FACEGENDER_VGG16_WEIGHTS: '', FACEGENDER_VGGFACE_WEIGHTS: '' };
    const r = await facegender(['bases', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const rows = new Map((JSON.parse(r.stdout) as Row[]).map((row) => [row.id, row]));
    expect(rows.get('face')).toMatchObject({ aliasOf: 'faceres-deep', engine: 'onnxruntime', fineTunable: true, usable: true });
    expect(rows.get('generic')).toMatchObject({ aliasOf: 'centernet', fineTunable: true });
    expect(rows.get('custom')).toMatchObject({ engine: 'tfjs', fineTunable: true });
    expect(rows.get('mobileface')).toMatchObject({ fineTunable: false });
    expect(rows.get('faceapi-resnet')).toMatchObject({ fineTunable: false });
    for (const row of rows.values()) expect(row.trainedOn.length, row.id).toBeGreaterThan(5);
    const vgg = rows.get('vgg16-imagenet');
    expect(vgg).toMatchObject({ usable: false, fineTunable: true });
    expect(vgg?.reason).toContain(path.join(home, '.keras', 'models', 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'));

    const withWeights = await facegender(['bases'], { env: { ...env, FACEGENDER_VGG16_WEIGHTS: path.join(SHARED, 'fixtures', 'keras-vgg16', 'vgg16_imagenet_layout_notop.h5') } });
    expect(withWeights.code, withWeights.stderr).toBe(0);
    expect(withWeights.stdout).toMatch(/^vgg16-imagenet\tusable\tonnxruntime\tfine-tunable$/m);
    expect(withWeights.stdout).toMatch(/^vggface\tNOT USABLE\tonnxruntime\tfine-tunable$/m);
    expect(withWeights.stdout).toMatch(/^face \(= faceres-deep\) \[default\]\tusable\tonnxruntime\tfine-tunable$/m);
  });
});
