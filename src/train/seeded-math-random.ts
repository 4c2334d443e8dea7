import { SeededRandom } from '../util/random.js';

/**
 * Runs `fn` with Math.random drawn from a seeded stream, then puts it back.
 *
 * tfjs seeds its weight initialisers and dropout masks from Math.random when given no seed, and a
 * fixed seed on a Dropout layer would reuse one mask for every batch. Seeding Math.random for the
 * duration of a training run makes the run reproducible without either problem.
 */
export async function withSeededMathRandom<T>(seed: number, fn: () => Promise<T>): Promise<T> {
  const original = Math.random;
  const rng = new SeededRandom(seed);
  Math.random = () => rng.next();
  try {
    return await fn();
  } finally {
    Math.random = original;
  }
}
