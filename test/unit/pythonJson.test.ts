import assert from 'node:assert/strict';
import { mlflowEnv, pythonJson, pythonJsonSync } from '../support/python';

// The one way the tests run a python peer (the mlflow client, pandas, scipy) and read its answer: a
// failing script must show its own error, or a broken comparison reads as a riddle.

describe('test support: python peers answer in JSON', () => {
  it('reads the JSON a script prints last, after whatever its libraries printed first', async () => {
    const code = 'import json, sys\nprint("a library says hello")\nprint(json.dumps({"args": sys.argv[1:], "stdin": sys.stdin.read()}))';
    assert.deepEqual(await pythonJson({ args: ['-c', code, 'x', 'y'], input: 'fed' }), { args: ['x', 'y'], stdin: 'fed' });
    assert.deepEqual(pythonJsonSync({ args: ['-c', 'import json\nprint(json.dumps([1, 2], indent=2))'] }), [1, 2]);
  });

  it('a script that fails rejects with its exit code, what it printed and its traceback', async () => {
    const code = 'import json, sys\nprint(json.dumps({"error": "no such model"}))\nraise SystemExit("the peer gave up: " + sys.argv[1])';
    await assert.rejects(pythonJson({ args: ['-c', code, 'weather-clf'] }), (error: Error) => {
      assert.match(error.message, /exited 1/);
      assert.match(error.message, /"error": "no such model"/);
      assert.match(error.message, /the peer gave up: weather-clf/);
      return true;
    });
    assert.throws(
      () => pythonJsonSync({ args: ['-c', 'import sys\nsys.stderr.write("Traceback: boom\\n")\nprint("not json")'] }),
      /printed no JSON[\s\S]*not json[\s\S]*Traceback: boom/,
    );
  });

  it('mlflowEnv points the client at the server and keeps it quiet and quick to fail', async () => {
    const seen = await pythonJson<Record<string, string>>({
      args: [
        '-c',
        'import json, os\nprint(json.dumps({k: os.environ.get(k, "") for k in ["MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_DISABLE_TELEMETRY", "MLFLOW_ALLOW_FILE_STORE"]}))',
      ],
      env: mlflowEnv({ uri: 'http://127.0.0.1:5999', token: 't0k', fileStore: true }),
    });
    assert.deepEqual(seen, {
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:5999',
      MLFLOW_TRACKING_TOKEN: 't0k',
      MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
      MLFLOW_DISABLE_TELEMETRY: 'true',
      MLFLOW_ALLOW_FILE_STORE: 'true',
    });
  });
});
