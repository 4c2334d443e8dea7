import { UsageError } from '../errors.js';
import { loadFaceapiAgeGender } from './faceapi-age-gender.js';
import { loadFaceresGender } from './faceres-gender.js';
import { loadGearGender } from './gear-gender.js';
import type { GenderModel, GenderModelOptions } from './gender-model.js';

/**
 * The table of gender models that ship, trained, inside npm packages. The comparison scores them
 * on the same test images as the trained bases; they are never trained here.
 */

interface CompetitorEntry {
  id: string;
  load: (options: GenderModelOptions) => Promise<GenderModel>;
}

const ENTRIES: readonly CompetitorEntry[] = [
  { id: 'faceres-gender', load: (o) => loadFaceresGender('faceres', o) },
  { id: 'faceres-deep-gender', load: (o) => loadFaceresGender('faceres-deep', o) },
  { id: 'faceapi-age-gender', load: (o) => loadFaceapiAgeGender(o) },
  { id: 'gear-gender', load: (o) => loadGearGender(o) },
];

/** Every competitor id `loadCompetitors` accepts, in the comparison's order. All load offline. */
export const COMPETITOR_IDS: readonly string[] = ENTRIES.map((e) => e.id);

/** Loads the named competitors (default: all of them), in the order given. */
export async function loadCompetitors(ids: readonly string[] = COMPETITOR_IDS, options: GenderModelOptions = {}): Promise<GenderModel[]> {
  const entries = ids.map((id) => {
    const entry = ENTRIES.find((e) => e.id === id);
    if (!entry) throw new UsageError(`unknown competitor '${id}'; known: ${COMPETITOR_IDS.join(', ')}`);
    return entry;
  });
  const models: GenderModel[] = [];
  try {
    for (const entry of entries) models.push(await entry.load(options));
  } catch (err) {
    await Promise.all(models.map((m) => m.dispose()));
    throw err;
  }
  return models;
}
