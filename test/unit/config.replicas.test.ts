import assert from 'node:assert/strict';
import { loadConfig } from '../../src/core/config/loadConfig';

const target = (lines: string): string => `version: 1\ntargets:\n  pool:\n    command: [serve]\n    port: 8000\n${lines}`;
const problemsOf = (text: string): string[] => loadConfig(text, 'mloop.yaml').problems.map((p) => `${p.line}:${p.column} ${p.message}`);

describe('mloop.yaml: replicas, max_unavailable and the rolling strategy', () => {
  it('defaults to one replica and max_unavailable 1; accepts replicas and rolling behind the gateway', () => {
    const plain = loadConfig(target(''), 'mloop.yaml');
    assert.deepEqual(plain.problems, []);
    assert.equal(plain.config!.targets!.pool!.replicas, 1);
    assert.equal(plain.config!.targets!.pool!.max_unavailable, 1);
    const rolling = loadConfig(target('    gateway: true\n    replicas: 3\n    max_unavailable: 2\n    strategy: rolling\n'), 'mloop.yaml');
    assert.deepEqual(rolling.problems, []);
    assert.deepEqual(
      [rolling.config!.targets!.pool!.replicas, rolling.config!.targets!.pool!.max_unavailable, rolling.config!.targets!.pool!.strategy],
      [3, 2, 'rolling'],
    );
  });

  it('a bad value is an error at its line and column', () => {
    assert.deepEqual(problemsOf(target('    gateway: true\n    replicas: 0\n')), ['7:15 targets.pool.replicas: Too small: expected number to be >=1']);
    assert.match(problemsOf(target('    gateway: true\n    replicas: 2.5\n'))[0]!, /^7:15 targets\.pool\.replicas: /);
    assert.match(problemsOf(target('    gateway: true\n    replicas: many\n'))[0]!, /^7:15 targets\.pool\.replicas: /);
    assert.deepEqual(problemsOf(target('    gateway: true\n    replicas: 2\n    max_unavailable: 3\n')), [
      '8:22 targets.pool.max_unavailable: max_unavailable (3) is more than replicas (2): at most all replicas are replaced at a time',
    ]);
  });

  it('replicas above 1 and the rolling strategy need the gateway, said at their line', () => {
    assert.deepEqual(problemsOf(target('    replicas: 3\n')), [
      '6:15 targets.pool.replicas: replicas above 1 need gateway: true (the gateway balances across them on the port)',
    ]);
    assert.deepEqual(problemsOf(target('    strategy: rolling\n')), [
      '6:15 targets.pool.strategy: strategy rolling needs gateway: true (each replica is replaced by a routing change)',
    ]);
  });
});
