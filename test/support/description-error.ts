import { expect } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import { parseTopology } from '../../src/topology/index.js';

/** The message a description is refused with (it must be refused, as bad input); read as /etc/rs/redis-shard.yml. */
export function errorOf(text: string, file = '/etc/rs/redis-shard.yml'): string {
  try {
    parseTopology(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidInputError);
    return (e as Error).message;
  }
  throw new Error('expected the description to be rejected');
}
