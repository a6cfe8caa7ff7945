import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { openRemote } from '../../src/core/cache/remoteStorage';
import { runCli } from '../../src/cli/program';
import { CLI, tempDir } from './fixtures';

const sha256 = (bytes: Buffer | string): string => createHash('sha256').update(bytes).digest('hex');
const csv = (rows: number, seed: number): string =>
  `id,x,label\n${Array.from({ length: rows }, (_, i) => `${i},${((i * 7919 + seed) % 1000) / 10},${(i + seed) % 3}`).join('\n')}\n`;

interface Report {
  remote: string;
  versions: string[];
  objects: number;
  bytes: number;
  skipped: number;
  notTransferred: { version: string; reason: string }[];
}

/** Two clones of one project: `a` records versions and pushes them, `b` starts empty and pulls. */
function twoClones(dir: string, remoteYaml: string): { a: string; b: string; v1: string; v2: string; images: Record<string, string> } {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const yaml = `version: 1\ndatasets:\n  train: { path: data/train.csv }\n  images: { path: imgs }\n${remoteYaml}`;
  for (const p of [a, b]) {
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, 'mloop.yaml'), yaml);
  }
  mkdirSync(join(a, 'data'));
  mkdirSync(join(a, 'imgs'));
  const images = { 'one.csv': csv(50, 7), 'two.csv': csv(80, 8) };
  for (const [name, text] of Object.entries(images)) writeFileSync(join(a, 'imgs', name), text);
  const v1 = csv(3000, 1);
  writeFileSync(join(a, 'data', 'train.csv'), v1);
  return { a, b, v1, v2: csv(3100, 2), images };
}

/** Projects and remotes written by the real DVC 3.64.0 and 2.58.2 (test/fixtures/dvc-remotes/README.md says how). */
const DVC_FIXTURES = resolve(__dirname, '../../../test/fixtures/dvc-remotes');
const W_MD5 = '5029598ec710e61bd2d8eae68efc3ce2';
const IMGS_MD5 = '2ced32c4cb6ee6fec1193f2d15df9523.dir';

/** A copy of a DVC fixture project (no DVC cache: objects must come from its remote) with an mloop.yaml. */
function dvcProject(dir: string, dvc: 'dvc2' | 'dvc3'): { project: string; remote: string; files: Record<string, string> } {
  const base = join(dir, dvc);
  cpSync(join(DVC_FIXTURES, dvc), base, { recursive: true });
  const project = join(base, 'project');
  writeFileSync(join(project, 'mloop.yaml'), 'version: 1\ndatasets:\n  w: { path: data/w.csv, cache: false }\n  imgs: { path: data/imgs, cache: false }\n');
  const files: Record<string, string> = {};
  for (const f of ['data/w.csv', 'data/imgs/one.csv', 'data/imgs/two.csv']) files[f] = readFileSync(join(project, f), 'utf8');
  return { project, remote: join(base, 'remote'), files };
}

describe("cache remotes: datasets push and pull (a folder, a real S3-compatible server), and DVC's cache", function () {
  this.timeout(60_000);
  let dir: string;
  let cleanup: () => void;
  let env: NodeJS.ProcessEnv;
  const cli = (cwd: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  /** The same commands in this process (a child costs a second of start-up each); credentials from `env` as a child would get them. */
  const inProcess = async (cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
    Object.assign(process.env, env);
    try {
      const code = await runCli(args, { stdout: { write: (t) => (stdout += String(t)) }, stderr: { write: (t) => (stderr += t) }, cwd });
      return { code, stdout, stderr };
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  };
  const ok = async (cwd: string, ...args: string[]): Promise<string> => {
    const r = await inProcess(cwd, ...args);
    assert.equal(r.code, 0, `mloop ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** Records v1 (and the folder), then v2, in clone a. */
  const record = async (c: ReturnType<typeof twoClones>): Promise<void> => {
    await ok(c.a, 'datasets', 'add', 'train');
    await ok(c.a, 'datasets', 'add', 'images');
    writeFileSync(join(c.a, 'data', 'train.csv'), c.v2);
    await ok(c.a, 'datasets', 'add', 'train');
    await ok(c.b, 'init');
  };
  const pullAndCheckout = async (c: ReturnType<typeof twoClones>): Promise<void> => {
    const pulled = JSON.parse(await ok(c.b, 'datasets', 'pull', `train@${sha256(c.v1).slice(0, 8)}`, '--json')) as Report;
    assert.deepEqual(pulled.versions, [`train@${sha256(c.v1).slice(0, 12)}`]);
    assert.equal(pulled.objects, 1);
    await ok(c.b, 'datasets', 'checkout', `train@${sha256(c.v1).slice(0, 8)}`, '--to', 'restored.csv');
    assert.equal(readFileSync(join(c.b, 'restored.csv'), 'utf8'), c.v1, 'the other clone restores the bytes it never recorded');
    const all = JSON.parse(await ok(c.b, 'datasets', 'pull', '--json')) as Report;
    assert.equal(all.versions.length, 3);
    assert.equal(all.objects, 3, 'v2 and the folder version’s two files; v1 was here already');
    await ok(c.b, 'datasets', 'checkout', `images@${await imagesDigest(c.a)}`, '--to', 'imgs-back');
    for (const [name, text] of Object.entries(c.images)) assert.equal(readFileSync(join(c.b, 'imgs-back', name), 'utf8'), text);
  };
  const imagesDigest = async (project: string): Promise<string> => {
    const listed = JSON.parse(await ok(project, 'datasets', 'versions', 'images', '--json')) as { digest: string }[] | { versions: { digest: string }[] };
    const versions = Array.isArray(listed) ? listed : listed.versions;
    return versions[0]!.digest.slice(0, 12);
  };

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('mloop-remote-'));
    env = { ...process.env, MLOOP_STORE: '', HOME: dir, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION']) delete env[k];
  });
  afterEach(() => cleanup());

  it('a folder remote: push sends each object once, the other clone pulls by digest prefix and restores; a corrupted remote object is refused', async () => {
    const c = twoClones(dir, 'remote:\n  url: ../shared\n');
    await record(c);
    const pushed = JSON.parse(await ok(c.a, 'datasets', 'push', '--json')) as Report;
    assert.equal(pushed.versions.length, 3);
    assert.equal(pushed.objects, 4, 'train v1, v2 and the two files of the folder version');
    assert.equal(pushed.bytes, Buffer.byteLength(c.v1) + Buffer.byteLength(c.v2) + Object.values(c.images).reduce((s, t) => s + Buffer.byteLength(t), 0));
    const again = JSON.parse(await ok(c.a, 'datasets', 'push', '--json')) as Report;
    assert.equal(again.objects, 0);
    assert.equal(again.skipped, 4, 'a second push sends nothing');
    const objectsOnRemote = readdirSync(join(dir, 'shared', 'objects')).flatMap((p) => readdirSync(join(dir, 'shared', 'objects', p)).map((r) => p + r));
    for (const d of objectsOnRemote) assert.equal(sha256(readFileSync(join(dir, 'shared', 'objects', d.slice(0, 2), d.slice(2)))), d);

    // the remote's copy of v2 is damaged: pull refuses it, names it, and leaves nothing behind
    const damaged = join(dir, 'shared', 'objects', sha256(c.v2).slice(0, 2), sha256(c.v2).slice(2));
    chmodSync(damaged, 0o644);
    writeFileSync(damaged, `${c.v2}tampered\n`);
    const bad = cli(c.b, 'datasets', 'pull', `train@${sha256(c.v2).slice(0, 10)}`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`object ${sha256(c.v2)} downloaded from .*shared hashes to [0-9a-f]{64}: the remote's copy is corrupted`));
    const objectsDir = join(c.b, '.mloop', 'cache', 'objects');
    assert.ok(!existsSync(join(objectsDir, sha256(c.v2).slice(0, 2), sha256(c.v2).slice(2))), 'no object under a digest it does not have');
    assert.deepEqual(readdirSync(join(c.b, '.mloop', 'cache', 'tmp')), [], 'no temporary file left');
    writeFileSync(damaged, c.v2);
    await pullAndCheckout(c);
  });

  it("a version recorded from a .dvc file (cache: false) is restored from DVC's cache in its md5 layout, verified; a damaged object is refused", async () => {
    const p = join(dir, 'dvcproj');
    mkdirSync(join(p, 'data'), { recursive: true });
    const text = csv(400, 5);
    const md5 = createHash('md5').update(text).digest('hex');
    writeFileSync(join(p, 'data', 'w.csv'), text);
    writeFileSync(join(p, 'data', 'w.csv.dvc'), `outs:\n- md5: ${md5}\n  size: ${Buffer.byteLength(text)}\n  hash: md5\n  path: w.csv\n`);
    // DVC 3's cache layout: .dvc/cache/files/md5/<first two>/<rest>
    const object = join(p, '.dvc', 'cache', 'files', 'md5', md5.slice(0, 2), md5.slice(2));
    mkdirSync(dirname(object), { recursive: true });
    writeFileSync(object, text);
    writeFileSync(join(p, 'mloop.yaml'), 'version: 1\ndatasets:\n  w: { path: data/w.csv, cache: false }\n');
    await ok(p, 'init');
    const added = JSON.parse(await ok(p, 'datasets', 'add', 'w', '--json')) as { digest: string; cache: string };
    assert.deepEqual([added.digest, added.cache], [md5, 'disabled'], "DVC's md5, and mloop kept no bytes");
    writeFileSync(join(p, 'data', 'w.csv'), 'changed\n');
    await ok(p, 'datasets', 'checkout', `w@${md5.slice(0, 8)}`);
    assert.equal(readFileSync(join(p, 'data', 'w.csv'), 'utf8'), text);
    writeFileSync(join(p, 'data', 'w.csv'), 'changed\n');
    writeFileSync(object, `${text}x`);
    const bad = await inProcess(p, 'datasets', 'checkout', `w@${md5.slice(0, 8)}`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, new RegExp(`DVC cache object .*${md5.slice(2)} is corrupted: it hashes to md5 [0-9a-f]{32}, not ${md5}`));
    assert.equal(readFileSync(join(p, 'data', 'w.csv'), 'utf8'), 'changed\n', 'nothing half-restored');
  });

  it('a .dvc-recorded version missing from both caches is fetched from the DVC remote it names (remotes written by real DVC 3 and DVC 2), verified', async () => {
    for (const dvc of ['dvc3', 'dvc2'] as const) {
      const { project, files } = dvcProject(dir, dvc);
      await ok(project, 'init');
      const w = JSON.parse(await ok(project, 'datasets', 'add', 'w', '--json')) as { digest: string; cache: string };
      const imgs = JSON.parse(await ok(project, 'datasets', 'add', 'imgs', '--json')) as { digest: string; cache: string };
      assert.deepEqual([w.digest, w.cache, imgs.digest], [W_MD5, 'disabled', IMGS_MD5], `${dvc}: DVC's md5s, no bytes kept by mloop`);
      rmSync(join(project, 'data'), { recursive: true, force: true }); // DVC's cache was never there: only the remote has the bytes
      await ok(project, 'datasets', 'checkout', `w@${W_MD5.slice(0, 8)}`);
      await ok(project, 'datasets', 'checkout', `imgs@${IMGS_MD5.slice(0, 8)}`);
      for (const [f, text] of Object.entries(files)) assert.equal(readFileSync(join(project, f), 'utf8'), text, `${dvc}: ${f} restored`);
      // fetched into DVC's cache in DVC 3's layout, as dvc fetch would: a second restore needs no remote
      for (const md5 of [W_MD5, IMGS_MD5, 'c3c6bc2ae8ece4bd2510dca21225c041', 'c5562e6604237de4f57deb8f3f042fff'])
        assert.ok(existsSync(join(project, '.dvc', 'cache', 'files', 'md5', md5.slice(0, 2), md5.slice(2))), `${dvc}: ${md5} in DVC's cache`);
    }
  });

  it('a DVC remote that lacks the object, has it corrupted, or cannot be reached: the error names the md5 and the file, nothing half-written', async () => {
    const { project, remote } = dvcProject(dir, 'dvc3');
    await ok(project, 'init');
    await ok(project, 'datasets', 'add', 'w');
    writeFileSync(join(project, 'data', 'w.csv'), 'changed\n');
    const object = join(remote, 'files', 'md5', W_MD5.slice(0, 2), W_MD5.slice(2));
    const cacheDir = join(project, '.dvc', 'cache', 'files', 'md5', W_MD5.slice(0, 2));
    const untouched = (what: string): void => {
      assert.equal(readFileSync(join(project, 'data', 'w.csv'), 'utf8'), 'changed\n', `${what}: the dataset is as it was`);
      assert.deepEqual(existsSync(cacheDir) ? readdirSync(cacheDir) : [], [], `${what}: no object or temporary file in DVC's cache`);
      assert.deepEqual(
        readdirSync(join(project, 'data')).filter((f) => f.includes('mloop-')),
        [],
      );
    };

    const good = readFileSync(object);
    chmodSync(object, 0o644);
    writeFileSync(object, Buffer.concat([good, Buffer.from('x')]));
    const corrupted = await inProcess(project, 'datasets', 'checkout', `w@${W_MD5.slice(0, 8)}`);
    assert.equal(corrupted.code, 1);
    assert.match(
      corrupted.stderr,
      new RegExp(`DVC remote "store" object files/md5/50/${W_MD5.slice(2)} \\(data/w.csv\\) is corrupted: it hashes to md5 [0-9a-f]{32}, not ${W_MD5}`),
    );
    untouched('corrupted');

    rmSync(object);
    const missing = await inProcess(project, 'datasets', 'checkout', `w@${W_MD5.slice(0, 8)}`);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      new RegExp(
        `md5 ${W_MD5} \\(data/w.csv\\) is not on DVC remote "store" \\(.*remote\\): looked for files/md5/50/${W_MD5.slice(2)} and 50/${W_MD5.slice(2)}`,
      ),
    );
    untouched('missing');

    // an S3 remote on a port nothing listens on (credentials from the environment)
    writeFileSync(
      join(project, '.dvc', 'config'),
      `[core]\n    remote = store\n['remote "store"']\n    url = s3://dvc-bucket/cache\n    endpointurl = http://127.0.0.1:9\n`,
    );
    env.AWS_ACCESS_KEY_ID = 'AKIAEXAMPLE';
    env.AWS_SECRET_ACCESS_KEY = 'not-printed-secret';
    const unreachable = await inProcess(project, 'datasets', 'checkout', `w@${W_MD5.slice(0, 8)}`);
    assert.equal(unreachable.code, 1);
    assert.match(
      unreachable.stderr,
      new RegExp(`could not fetch md5 ${W_MD5} \\(data/w.csv\\) from DVC remote "store": s3://dvc-bucket/cache: (HEAD|GET) failed: .*ECONNREFUSED`),
    );
    assert.ok(!unreachable.stderr.includes('not-printed-secret'));
    untouched('unreachable');
  });

  describe('S3 (a moto server from PyPI, started here)', () => {
    let moto: ChildProcess | undefined;
    let endpoint: string;
    before(async function () {
      this.timeout(30_000);
      moto = spawn('python3', ['-m', 'moto.server', '-H', '127.0.0.1', '-p', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
      endpoint = await new Promise<string>((done, fail) => {
        let seen = '';
        const look = (chunk: Buffer): void => {
          seen += chunk.toString();
          const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
          if (m) done(m[1]!);
        };
        moto!.stdout!.on('data', look);
        moto!.stderr!.on('data', look);
        moto!.on('exit', (code) => fail(new Error(`moto.server exited ${code}: ${seen}`)));
      });
      const made = await fetch(`${endpoint}/team-cache`, { method: 'PUT' });
      assert.equal(made.status, 200, await made.text());
    });
    after(() => {
      if (moto?.pid) process.kill(moto.pid, 'SIGTERM');
    });

    it('push signs with the credentials of the environment (never printed), the objects land under their digests, and another clone pulls them', async () => {
      const c = twoClones(dir, `remote:\n  url: s3://team-cache/projects/weather\n  endpoint_url: ${endpoint}\n  region: eu-west-1\n`);
      await record(c);
      const missing = await inProcess(c.a, 'datasets', 'push');
      assert.equal(missing.code, 1);
      assert.match(
        missing.stderr,
        /no AWS credentials for s3:\/\/team-cache\/projects\/weather: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/,
      );
      const secret = 'wJalrXUtnFEMI-k7MDENG-bPxRfiCYEXAMPLEKEY';
      writeFileSync(join(dir, 'credentials'), `[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = ${secret}\n`);
      env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'credentials'); // the profile file for one clone …
      const pushed = cli(c.a, 'datasets', 'push', '--json');
      assert.equal(pushed.code, 0, pushed.stderr);
      const report = JSON.parse(pushed.stdout) as Report;
      assert.equal(report.objects, 4);
      assert.equal(report.remote, 's3://team-cache/projects/weather');
      assert.ok(
        !`${pushed.stdout}${pushed.stderr}`.includes(secret) && !`${pushed.stdout}${pushed.stderr}`.includes('AKIAEXAMPLE'),
        'no credential in the output',
      );

      // an independent client (boto3) reads back what is on the server: every object hashes to its key
      const listed = spawnSync(
        'python3',
        [
          '-c',
          `import boto3, hashlib, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y")
out = {}
for o in s3.list_objects_v2(Bucket="team-cache", Prefix="projects/weather/objects/")["Contents"]:
    out[o["Key"]] = hashlib.sha256(s3.get_object(Bucket="team-cache", Key=o["Key"])["Body"].read()).hexdigest()
print(json.dumps(out))`,
          endpoint,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(listed.status, 0, listed.stderr);
      const objects = JSON.parse(listed.stdout) as Record<string, string>;
      assert.equal(Object.keys(objects).length, 4);
      for (const [key, digest] of Object.entries(objects)) assert.equal(key.replace('projects/weather/objects/', '').replace('/', ''), digest);
      assert.ok(Object.values(objects).includes(sha256(c.v1)));

      delete env.AWS_SHARED_CREDENTIALS_FILE; // … the variables for the other
      env.AWS_ACCESS_KEY_ID = 'AKIAOTHER';
      env.AWS_SECRET_ACCESS_KEY = secret;
      await pullAndCheckout(c);
    });

    it('a .dvc-recorded version is fetched from a DVC S3 remote (the objects real DVC 3 pushed, uploaded to moto), with the keys of .dvc/config.local', async () => {
      const { project, remote, files } = dvcProject(dir, 'dvc3');
      const upload = openRemote({ url: 's3://team-cache/dvc/store', endpoint_url: endpoint }, project, { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' });
      for (const md5 of [W_MD5, IMGS_MD5, 'c3c6bc2ae8ece4bd2510dca21225c041', 'c5562e6604237de4f57deb8f3f042fff']) {
        const file = join(remote, 'files', 'md5', md5.slice(0, 2), md5.slice(2));
        await upload.putFile(`files/md5/${md5.slice(0, 2)}/${md5.slice(2)}`, file, sha256(readFileSync(file)));
      }
      writeFileSync(
        join(project, '.dvc', 'config'),
        `[core]\n    remote = team\n['remote "team"']\n    url = s3://team-cache/dvc/store\n    endpointurl = ${endpoint}\n    region = eu-west-1\n`,
      );
      writeFileSync(join(project, '.dvc', 'config.local'), `['remote "team"']\n    access_key_id = AKIALOCAL\n    secret_access_key = local-secret\n`);
      await ok(project, 'init');
      await ok(project, 'datasets', 'add', 'w');
      await ok(project, 'datasets', 'add', 'imgs');
      rmSync(join(project, 'data'), { recursive: true, force: true });
      const out = await inProcess(project, 'datasets', 'checkout', `imgs@${IMGS_MD5.slice(0, 8)}`);
      assert.equal(out.code, 0, out.stderr);
      assert.ok(!`${out.stdout}${out.stderr}`.includes('local-secret'));
      await ok(project, 'datasets', 'checkout', `w@${W_MD5.slice(0, 8)}`);
      for (const [f, text] of Object.entries(files)) assert.equal(readFileSync(join(project, f), 'utf8'), text, `${f} restored from S3`);
    });
  });
});
