import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The project's shared folder (datasets, fixtures) sits beside the repository. */
export const SHARED = path.resolve(fileURLToPath(new URL('../../../shared', import.meta.url)));
export const CELEBA = path.join(SHARED, 'datasets', 'celeba-10k');
export const CELEBA_ATTRIBUTES = path.join(CELEBA, 'list_attr_celeba_000001-020000.txt');
export const CELEBA_IDENTITIES = path.join(CELEBA, 'identity_CelebA_000001-010000.txt');
export const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** MEBeauty's aligned crops: female/ and male/ by ethnicity, groups.csv (file,label,ethnicity), names with spaces and accents. */
export const MEBEAUTY = path.join(SHARED, 'datasets', 'mebeauty-2k');
