/**
 * Every input path refuses what it cannot read with a located sentence and exit 2, within
 * bounded time and memory (README "Input limits"): files that are not regular files, too large,
 * not UTF-8 text; YAML with alias bombs, bad aliases, merge keys, odd tags, deep nesting, too many
 * values or duplicate keys; kubeconfigs that are missing or garbage. Bundles:
 * verify-bundle-limits.test.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { InputError } from '../../harness/errors.js';
import { firstInvalidUtf8, MAX_INPUT_BYTES, readInputFile } from '../../harness/input-file.js';
import { loadKubeConfig } from '../../harness/cluster/existing.js';
import {
  ManifestBudget,
  readManifestFile,
  readManifestPaths,
} from '../../harness/policies/read-manifests.js';
import { loadScenarioFile } from '../../harness/scenario/loader.js';
import { parseYaml, YAML_LIMITS } from '../../harness/yaml-source.js';
import { runBin } from '../support/cli.js';
import { repoRoot } from '../support/scenarios.js';

const SHIPPED = path.join(repoRoot, 'scenarios/hard-isolation.yaml');

/** The problems of a promise that must fail with an InputError. */
async function refused(work: Promise<unknown>): Promise<InputError['problems']> {
  try {
    await work;
  } catch (error) {
    if (error instanceof InputError) return error.problems;
    throw error;
  }
  expect.fail('it was accepted');
}

function yamlProblems(text: string): string[] {
  const parsed = parseYaml(text, 'f.yaml');
  if (parsed.ok) expect.fail('the YAML was accepted');
  return parsed.problems.map((p) => `${p.line}:${p.column} ${p.path ? `${p.path}: ` : ''}${p.message}`);
}

const hasMkfifo = (() => {
  try {
    execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('input limits', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bulkhead-input-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('the shared input reader', () => {
    it('refuses what is not a regular file before opening it: folder, FIFO, device, symlink loop, missing', async function () {
      const folder = path.join(dir, 'folder.yaml');
      await mkdir(folder);
      const loop = path.join(dir, 'loop.yaml');
      await symlink('loop.yaml', loop);
      const cases: [string, string][] = [
        [folder, 'cannot read: it is a folder, not a file'],
        [loop, 'cannot read: its path goes through a loop of symbolic links (ELOOP)'],
        [path.join(dir, 'missing.yaml'), 'cannot read: no such file or directory'],
      ];
      if (existsSync('/dev/zero'))
        cases.push(['/dev/zero', 'cannot read: it is a character device, not a regular file']);
      if (hasMkfifo) {
        const fifo = path.join(dir, 'fifo.yaml');
        execFileSync('mkfifo', [fifo]);
        cases.push([fifo, 'cannot read: it is a FIFO (named pipe), not a regular file']);
      }
      for (const [file, message] of cases) {
        const started = performance.now();
        const problems = await refused(readInputFile(file));
        expect(problems.map((p) => p.message)).to.deep.equal([message]);
        // A FIFO opened for reading would block until a writer came: never.
        expect(performance.now() - started).to.be.below(2_000);
      }
    });

    it(`refuses a file over ${MAX_INPUT_BYTES / 2 ** 20} MiB by its size, before reading it`, async () => {
      const big = path.join(dir, 'big.yaml');
      await writeFile(big, '');
      await truncate(big, 11 * 2 ** 20); // sparse: no disk used
      const problems = await refused(readInputFile(big));
      expect(problems[0]?.message).to.equal(
        'cannot read: it is 11 MiB; bulkhead reads input files of at most 10 MiB',
      );
    });

    it('refuses NUL bytes and bytes that are not UTF-8, at their line and column', async () => {
      const nul = path.join(dir, 'nul.yaml');
      await writeFile(nul, Buffer.from('a: 1\nb: x\u0000y\n'));
      expect((await refused(readInputFile(nul)))[0]).to.include({ line: 2, column: 5 });
      const latin1 = path.join(dir, 'latin1.yaml');
      await writeFile(latin1, Buffer.from('a: 1\nname: café\n', 'latin1'));
      const [p] = await refused(readInputFile(latin1));
      expect(p).to.include({ line: 2, column: 10 });
      expect(p?.message).to.equal('byte 0xe9 is not UTF-8 text; save the file as UTF-8');
      // Well-formed UTF-8 (and a BOM) is read as text.
      const utf8 = path.join(dir, 'utf8.yaml');
      await writeFile(utf8, '\ufeffname: café ✓ 𝄞\n');
      expect(await readInputFile(utf8)).to.equal('name: café ✓ 𝄞\n');
    });

    it('finds the first byte that breaks UTF-8: overlong forms, surrogates, truncated sequences', () => {
      expect(firstInvalidUtf8(Buffer.from('abc'))).to.equal(3);
      expect(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0xaf]))).to.equal(1); // overlong "/"
      expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).to.equal(0); // a surrogate
      expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xe2, 0x82]))).to.equal(2); // cut short
      expect(firstInvalidUtf8(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).to.equal(0); // past U+10FFFF
      expect(firstInvalidUtf8(Buffer.from('é✓𝄞'))).to.equal(Buffer.from('é✓𝄞').length);
    });
  });

  describe('YAML', () => {
    it('refuses an alias bomb where the aliases pass the budget, and accepts an anchor used often', () => {
      const bomb = ['x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
      for (let i = 1; i < 9; i++)
        bomb.push(
          `x${i}: &x${i} [${Array(10)
            .fill(`*x${i - 1}`)
            .join(', ')}]`,
        );
      const started = performance.now();
      const problems = yamlProblems(bomb.join('\n'));
      expect(performance.now() - started).to.be.below(2_000);
      expect(problems).to.deep.equal([
        '5:45 x4[7]: YAML: aliases expand this document by more than 100,000 values (by here); write the values out, or alias less',
      ]);
      // 500 uses of a small anchor (the yaml package's own guard refuses more than 100).
      const often = parseYaml(
        `w: &w [{ name: a, ports: [8080] }]\nt: [${Array(500).fill('*w').join(', ')}]\n`,
        'f.yaml',
      );
      expect(often.ok).to.equal(true);
    });

    it('refuses aliases to nothing and aliases inside what they name', () => {
      expect(yamlProblems('a: &x [1]\nb: *y\n')).to.deep.equal([
        '2:4 b: YAML: the alias *y names no anchor &y defined before it',
      ]);
      expect(yamlProblems('a: &x { self: *x }\n')).to.deep.equal([
        '1:15 a.self: YAML: the alias *x is inside the value &x it names, which would repeat without end',
      ]);
    });

    it('refuses merge keys, in YAML 1.2 and 1.1 alike', () => {
      const message =
        'YAML: merge keys (<<) are not supported; write the keys out (an alias of a whole mapping or list works)';
      expect(yamlProblems('base: &b { x: 1 }\nc:\n  <<: *b\n')).to.deep.equal([`3:3 c["<<"]: ${message}`]);
      expect(yamlProblems('%YAML 1.1\n---\nbase: &b { x: 1 }\nc:\n  <<: *b\n')).to.deep.equal([
        `5:3 c["<<"]: ${message}`,
      ]);
      // A quoted "<<" is an ordinary key.
      expect(parseYaml('"<<": 1\n', 'f.yaml').ok).to.equal(true);
    });

    it('refuses tags outside the core schema, keys that are not strings and duplicate keys', () => {
      expect(yamlProblems('a: !!binary aGk=\nb: !!set { x }\nc: !local v\nd: !!str 5\n')).to.deep.equal([
        '1:13 a: YAML: the tag !!binary is not supported; bulkhead reads strings, numbers, booleans, null, lists and mappings',
        '2:10 b: YAML: the tag !!set is not supported; bulkhead reads strings, numbers, booleans, null, lists and mappings',
        '3:11 c: YAML: the tag !local is not supported; bulkhead reads strings, numbers, booleans, null, lists and mappings',
      ]);
      expect(yamlProblems('? [a, b]\n: c\n')).to.deep.equal([
        '1:3 YAML: a mapping key must be a string (not a list, a mapping or an alias)',
      ]);
      expect(yamlProblems('port: 1\nname: a\nport: 2\n')).to.deep.equal([
        "3:1 YAML: the key 'port' is already in this mapping (each key once)",
      ]);
      // 8080 and "8080" are the same key once read.
      expect(yamlProblems('8080: a\n"8080": b\n')).to.deep.equal([
        '2:1 YAML: the key "8080" is already in this mapping (each key once)',
      ]);
    });

    it(`refuses nesting past ${YAML_LIMITS.maxDepth} levels, however deep, aliases expanded`, () => {
      for (const depth of [YAML_LIMITS.maxDepth + 2, 500, 5_000, 50_000]) {
        const problems = yamlProblems(`a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`);
        expect(problems[0], String(depth)).to.match(
          /YAML: nest(ed more than 64 levels deep|ed too deeply to read)/,
        );
      }
      expect(
        parseYaml(`a: ${'['.repeat(YAML_LIMITS.maxDepth - 1)}${']'.repeat(YAML_LIMITS.maxDepth - 1)}\n`, 'f')
          .ok,
      ).to.equal(true);
      const deep = `d: &d ${'['.repeat(40)}${']'.repeat(40)}\ne: ${'['.repeat(30)}*d${']'.repeat(30)}\n`;
      expect(yamlProblems(deep)[0]).to.match(
        /nested more than 64 levels deep once the alias \*d is expanded$/,
      );
    });

    it(`refuses more than ${YAML_LIMITS.maxNodes.toLocaleString('en-US')} values before building them; huge strings and numbers are values like others`, () => {
      const started = performance.now();
      const problems = yamlProblems(`[${'1,'.repeat(YAML_LIMITS.maxNodes + 10)}1]`);
      expect(performance.now() - started).to.be.below(10_000);
      expect(problems[0]).to.match(
        /^1:\d+ more than 500,000 YAML values \(scalars, lists and mappings\) in one text/,
      );
      // A caller that knows its texts are larger (results.json) may raise the bound.
      const values = `[${'1,'.repeat(30)}1]`;
      expect(parseYaml(values, 'f.yaml', 0, { maxNodes: 20 }).ok).to.equal(false);
      expect(parseYaml(values, 'f.yaml', 0, { maxNodes: 40 }).ok).to.equal(true);
      const huge = parseYaml(`s: ${'x'.repeat(5_000_000)}\nn: ${'9'.repeat(100_000)}\nf: 1e400\n`, 'f.yaml');
      expect(huge.ok).to.equal(true);
      if (huge.ok) expect(huge.documents[0]?.value()).to.deep.include({ n: Infinity, f: Infinity });
    });
  });

  describe('scenario files', () => {
    it('refuses a scenario that is not a regular file or not text, naming it', async () => {
      const problems = await refused(loadScenarioFile(dir));
      expect(problems[0]?.message).to.equal('cannot read scenario: it is a folder, not a file');
      const nul = path.join(dir, 'binary-scenario.yaml');
      await writeFile(nul, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]));
      expect((await refused(loadScenarioFile(nul)))[0]?.message).to.match(/^holds a NUL byte/);
    });

    it('reports a bad port number (1e400, a string of digits) at the field, not as a crash', async () => {
      const text = (await readFile(SHIPPED, 'utf8')).replace(
        'ports: [{ port: 8080, name: http }]\n\n',
        'ports: [{ port: 1e400, name: http }]\n\n',
      );
      const file = path.join(dir, 'port.yaml');
      await writeFile(file, text);
      const problems = await refused(loadScenarioFile(file));
      expect(problems[0]?.path).to.equal('spec.workloads[0].ports[0].port');
    });

    it('reads policy files through the same reader: a FIFO or a folder named *.yaml is a problem, not a hang', async function () {
      if (!hasMkfifo) this.skip();
      const policies = path.join(dir, 'policies');
      await mkdir(path.join(policies, 'inner.yaml'), { recursive: true });
      execFileSync('mkfifo', [path.join(policies, 'pipe.yaml')]);
      const text = (await readFile(SHIPPED, 'utf8')).replace(
        '    - builtin: hard-isolation',
        `    - builtin: hard-isolation\n    - file: policies`,
      );
      const file = path.join(dir, 'with-policies.yaml');
      await writeFile(file, text);
      const started = performance.now();
      const problems = await refused(loadScenarioFile(file));
      expect(performance.now() - started).to.be.below(5_000);
      expect(problems.map((p) => p.message)).to.deep.equal([
        'cannot read: it is a folder, not a file',
        'cannot read: it is a FIFO (named pipe), not a regular file',
      ]);
    });
  });

  describe('manifests (lint, scenario policies)', () => {
    it('bounds the YAML values of all manifest files of one command together', async () => {
      const files = ['a.yaml', 'b.yaml'].map((f) => path.join(dir, f));
      for (const f of files) {
        await writeFile(f, 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\ndata: { a: b, c: d }\n');
      }
      const budget = new ManifestBudget(15);
      const problems: InputError['problems'][number][] = [];
      expect(await readManifestFile(files[0] ?? '', 'a.yaml', problems, budget)).to.have.length(1);
      expect(await readManifestFile(files[1] ?? '', 'b.yaml', problems, budget)).to.deep.equal([]);
      expect(problems.map((p) => `${p.file}: ${p.message}`)).to.deep.equal([
        'b.yaml: the manifest files given hold more than 15 YAML values together (this file is where the total passes it); give fewer files at a time',
      ]);
    });

    it('does not follow a symbolic link to a folder, so a link loop cannot recurse', async () => {
      const tree = path.join(dir, 'tree');
      await mkdir(tree);
      await writeFile(path.join(tree, 'p.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n');
      await symlink('.', path.join(tree, 'again'));
      const manifests = await readManifestPaths(['tree'], dir);
      expect(manifests.map((m) => m.file)).to.deep.equal(['tree/p.yaml']);
    });
  });

  describe('kubeconfigs', () => {
    it('refuses a missing, odd or garbage kubeconfig with one sentence naming it', async () => {
      const write = async (name: string, content: string | Buffer) => {
        const file = path.join(dir, name);
        await writeFile(file, content);
        return file;
      };
      const cases: [string, RegExp][] = [
        [path.join(dir, 'no-such-kubeconfig'), /does not exist$/],
        [dir, /: it is a folder, not a file$/],
        [
          await write('empty', ''),
          /: it is empty, not a kubeconfig \(one YAML mapping with clusters, contexts and users\)$/,
        ],
        [await write('list', '- a\n- b\n'), /: it is not a kubeconfig/],
        [
          await write('garbage', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00])),
          /: line \d+: holds a NUL byte/,
        ],
        [
          await write('latin1', Buffer.from('clusters: []\nusers: [{ name: jos\xe9 }]\n', 'latin1')),
          /: line 2: byte 0xe9 is not UTF-8 text/,
        ],
        [await write('syntax', 'clusters: [\n'), /: line \d+: YAML: /],
        [await write('clusters', 'clusters: 5\n'), /: line 1: clusters must be a list$/],
        [
          await write('merge', 'base: &b { name: x }\nusers:\n  - <<: *b\n'),
          /: line 3: YAML: merge keys \(<<\) are not supported/,
        ],
        [
          await write('bad-cluster', 'clusters: [{ name: x }]\ncontexts: []\nusers: []\n'),
          /^cannot read the kubeconfig: .*bad-cluster: /,
        ],
      ];
      if (existsSync('/dev/zero'))
        cases.push(['/dev/zero', /: it is a character device, not a regular file$/]);
      for (const [file, message] of cases) {
        let thrown: unknown;
        try {
          loadKubeConfig({ kubeconfig: file, cwd: dir, env: {} });
        } catch (error) {
          thrown = error;
        }
        expect(thrown, file).to.be.instanceOf(Error);
        expect((thrown as Error).name, file).to.equal('UserError');
        expect((thrown as Error).message, file).to.match(/^cannot read the kubeconfig: /);
        expect((thrown as Error).message, file).to.match(message);
      }
    });
  });

  describe('the command line, end to end', () => {
    it('answers validate, lint and diff on a FIFO, a folder and a binary file with exit 2 and a sentence', async function () {
      this.timeout(120_000);
      const odd = [dir, path.join(dir, 'nul.yaml')];
      if (hasMkfifo) {
        const fifo = path.join(dir, 'cli-fifo.yaml');
        execFileSync('mkfifo', [fifo]);
        odd.push(fifo);
      }
      for (const file of odd) {
        // A folder is something lint reads (recursively); for validate and diff it is not a file.
        const commands = [
          ['validate', '-f', file],
          ['diff', file, file],
          ...(file === dir ? [] : [['lint', file]]),
        ];
        for (const args of commands) {
          const r = await runBin(args);
          expect(r.code, args.join(' ')).to.equal(2);
          // diff reads results.json through harness/results/read-results.ts: its content is
          // checked there, only the kind of file here.
          const sentence =
            args[0] === 'diff' && file.endsWith('nul.yaml')
              ? /^error: .+: /
              : /^error: .+: (cannot read( scenario)?: )?(it is a|holds a NUL)/;
          expect(r.stderr, args.join(' ')).to.match(sentence);
          expect(r.stderr + r.stdout).to.not.match(/internal error|\n\s+at /);
        }
      }
    });

    it('ends validate, plan and lint on SIGTERM or SIGINT within two seconds, even mid-work', async function () {
      this.timeout(120_000);
      // Work that takes several seconds of CPU without a pause: parsing 25,000 documents of one file.
      const folder = path.join(dir, 'many.yaml');
      await writeFile(
        folder,
        Array.from(
          { length: 25_000 },
          (_, i) =>
            `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: { name: p, namespace: tenant-t${i} }\nspec: { podSelector: {}, policyTypes: [Ingress, Egress] }\n`,
        ).join('---\n'),
      );
      for (const [signal, code] of [
        ['SIGTERM', 143],
        ['SIGINT', 130],
      ] as const) {
        const child = spawn(process.execPath, [path.join(repoRoot, 'bin/bulkhead.js'), 'lint', folder], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(
          (resolve) => {
            child.on('exit', (c, s) => {
              resolve({ code: c, signal: s, at: performance.now() });
            });
          },
        );
        // Past start-up, into reading and linting.
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        expect(child.exitCode, 'lint ended before the signal; the work is too small').to.equal(null);
        const sent = performance.now();
        child.kill(signal);
        const { code: exitCode, signal: by, at } = await ended;
        expect(at - sent).to.be.below(2_000);
        expect(
          by === signal || exitCode === code,
          `${signal}: exit ${String(exitCode)} ${String(by)}`,
        ).to.equal(true);
      }
    });
  });
});
