import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoundedMap } from '../../src/util/bounded-map.js';

describe('BoundedMap', () => {
  it('evicts the least recently set or used entry when full', () => {
    const m = new BoundedMap<string, number>(3);
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    assert.equal(m.use('a'), 1);
    m.set('d', 4);
    assert.deepEqual([...m.entries()].map(([k]) => k), ['c', 'a', 'd']);
    assert.equal(m.get('b'), undefined);
  });

  it('moves a used entry only when it is in the older half, so hot entries cost one lookup', () => {
    const m = new BoundedMap<string, number>(100);
    for (let i = 0; i < 10; i++) m.set(`k${i}`, i);
    m.use('k9');
    m.use('k6');
    assert.deepEqual([...m.entries()].map(([k]) => k).slice(-4), ['k6', 'k7', 'k8', 'k9'], 'the newer half stays in place');
    m.use('k3');
    assert.equal([...m.entries()].at(-1)?.[0], 'k3', 'an entry from the older half moves to the newest end');
    assert.equal(m.use('absent'), undefined);
  });

  it('keeps the entry most used under churn while others come and go', () => {
    const m = new BoundedMap<string, number>(8);
    m.set('hot', 0);
    for (let i = 0; i < 1000; i++) {
      m.set(`cold${i}`, i);
      assert.equal(m.use('hot'), 0, `hot evicted after ${i} sets`);
    }
  });

  it('bounds the total weight, evicting as many old entries as the new one needs', () => {
    const m = new BoundedMap<string, string>(100, { maxWeight: 10, weigh: (v) => v.length });
    m.set('a', 'xxxx');
    m.set('b', 'xxxx');
    assert.equal(m.totalWeight, 8);
    m.set('c', 'xxx');
    assert.deepEqual([...m.entries()].map(([k]) => k), ['b', 'c'], 'the oldest made room, the next one fits beside');
    m.set('d', 'x'.repeat(9));
    assert.deepEqual([...m.entries()].map(([k]) => k), ['d'], 'both older entries made room');
    assert.equal(m.totalWeight, 9);
    assert.equal(m.set('huge', 'x'.repeat(11)), false, 'an entry heavier than the whole limit is never stored');
    assert.equal(m.get('d'), 'x'.repeat(9), 'and evicts nothing');
  });

  it('says whether a value would fit without evicting anything, counting the entry it would replace', () => {
    const m = new BoundedMap<string, string>(2, { maxWeight: 10, weigh: (v) => v.length });
    assert.equal(m.hasRoomFor('a', 10), true);
    m.set('a', 'xxxx');
    assert.equal(m.hasRoomFor('b', 6), true);
    assert.equal(m.hasRoomFor('b', 7), false, 'over the weight limit');
    assert.equal(m.hasRoomFor('a', 10), true, "a's own 4 would be replaced");
    m.set('b', 'x');
    assert.equal(m.hasRoomFor('c', 1), false, 'at the entry limit');
    assert.equal(m.hasRoomFor('b', 6), true, "b's own slot and weight would be replaced");
    assert.equal(m.hasRoomFor('b', 7), false);
  });

  it('keeps the weight right when a key is set again or deleted', () => {
    const m = new BoundedMap<string, string>(10, { maxWeight: 100, weigh: (v) => v.length });
    m.set('a', 'xx');
    m.set('a', 'xxxxx');
    assert.equal(m.totalWeight, 5);
    m.delete('a');
    m.delete('a');
    assert.equal(m.totalWeight, 0);
    assert.equal(m.size, 0);
  });

  it('stores nothing with a limit of 0 entries', () => {
    const m = new BoundedMap<string, number>(0);
    assert.equal(m.set('a', 1), false);
    assert.equal(m.size, 0);
  });
});
