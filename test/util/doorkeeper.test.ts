import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Doorkeeper } from '../../src/util/doorkeeper.js';

describe('Doorkeeper', () => {
  it('refuses a key the first time and lets it in the second time', () => {
    const d = new Doorkeeper();
    assert.equal(d.admit('eyJ-signature-bytes-of-token-one'), false);
    assert.equal(d.admit('eyJ-signature-bytes-of-token-two'), false);
    assert.equal(d.admit('eyJ-signature-bytes-of-token-one'), true);
    assert.equal(d.admit('eyJ-signature-bytes-of-token-two'), true);
  });

  it('forgets first sightings once the window of refusals has passed', () => {
    const d = new Doorkeeper(4, 10);
    assert.equal(d.admit('early'), false);
    for (let i = 0; i < 4; i++) assert.equal(d.admit(`other-${i}`), false);
    assert.equal(d.admit('early'), false, 'the filter was cleared after 4 further refusals');
    assert.equal(d.admit('early'), true);
  });

  it('lets few unseen keys in by mistake over a whole window (false positives under 1%)', () => {
    const d = new Doorkeeper();
    let wrong = 0;
    for (let i = 0; i < 32_768; i++) if (d.admit(`token-${i}-${(i * 2654435761) >>> 0}`)) wrong++;
    assert.ok(wrong < 32_768 * 0.01, `${wrong} of 32 768 unseen keys let in`);
  });

  it('refuses a filter size it cannot hold', () => {
    assert.throws(() => new Doorkeeper(100, 4), RangeError);
    assert.throws(() => new Doorkeeper(100, 31), RangeError);
  });
});
