// Hostile and broken model folders, each loaded through the real engine process (the child the
// extension spawns), so every refusal is shown to arrive as a coded protocol error while the engine
// keeps answering: after each one the previous model is still loaded, a good model loads again, and
// the cache holds no temporary or partial entry. Folders are fixtures built by our own modelgen and
// then edited (graph re-encoded, bytes cut, JSON rewritten, files deleted or linked).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, renameSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_RANGE } from '../../src/engine/model/chatTemplate';
import { DataType, decodeModel, encodeModel, f32Tensor, i64Tensor, node, onnx, valueInfo } from '../../src/engine/onnx/proto';
import { EngineRequestError } from '../../src/host/engineClient';
import type { ModelInfo } from '../../src/protocol';
import { testClient } from '../support/engineClients';
import { fixture } from '../support/fixtures';
import { tempDir } from '../support/paths';

type Model = onnx.IModelProto;

describe('faults 1: hostile model folders', () => {
  const { c: engine, logs } = testClient();
  const cacheDir = tempDir('faults1-cache');
  /** A folder the engine loads fine: the model every failure must leave usable. */
  const good = fixture({ style: 'torch', dtype: 'fp32', externalData: true });
  after(() => engine.dispose());
  before(async () => {
    await engine.request('load', { model: good.dir, cacheDir });
  });

  const load = (dir: string, dtype: 'fp32' | 'fp16' = 'fp32') => engine.request('load', { model: dir, cacheDir, dtype, allowRemote: false });

  /** A fresh copy of a fixture folder (embedded or external weights), edited by `edit`. */
  function folder(edit: (dir: string) => void, externalData = false): string {
    const dir = fixture({ style: 'torch', dtype: 'fp32', externalData }).dir;
    edit(dir);
    return dir;
  }
  const graphFile = (dir: string) => path.join(dir, 'onnx', 'model.onnx');
  /** Decodes the folder's graph, lets `edit` change it, writes it back. */
  const editGraph = (dir: string, edit: (m: Model) => void) => {
    const m = decodeModel(readFileSync(graphFile(dir)));
    edit(m);
    writeFileSync(graphFile(dir), encodeModel(m));
  };
  const editJson = (dir: string, file: string, edit: (j: Record<string, unknown>) => void) => {
    const j = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;
    edit(j);
    writeFileSync(path.join(dir, file), JSON.stringify(j));
  };

  /** Every entry under the cache is complete: no temp folder, no entry without its graph and metadata. */
  function assertCacheClean(): void {
    const root = path.join(cacheDir, 'instrumented');
    for (const entry of existsSync(root) ? readdirSync(root) : []) {
      assert.doesNotMatch(entry, /\.tmp-/, `temporary cache entry left behind: ${entry}`);
      assert.deepEqual(readdirSync(path.join(root, entry)).filter((f) => f !== 'model.onnx_data').sort(), ['instrument.json', 'model.onnx'], entry);
    }
  }

  /** The load is refused with `code` and a message matching `message`; the engine is unharmed. */
  async function refused(dir: string, message: RegExp, opts: { code?: string; dtype?: 'fp32' | 'fp16' } = {}): Promise<string> {
    let error: unknown;
    try {
      await load(dir, opts.dtype);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof EngineRequestError, `expected a refusal, got ${error === undefined ? 'a loaded model' : String(error)}`);
    assert.equal(error.code, opts.code ?? 'MODEL_INVALID', error.message);
    assert.match(error.message, message);
    await engineUnharmed();
    return error.message;
  }

  async function engineUnharmed(): Promise<void> {
    assert.equal(engine.state, 'ready', 'the engine process is still up');
    assert.equal((await engine.request('info', {})).dir, good.dir, 'a failed load keeps the previous model');
    assertCacheClean();
    const again: ModelInfo = await load(good.dir);
    assert.equal(again.cacheHit, true);
    assert.equal((await engine.request('tokenize', { prompt: 'hello', chat: true })).ids.length > 0, true);
  }

  /** A tensor whose data lives in `location`, as an exporter writes it. */
  function externalTensor(name: string, location: string, dims = [2], extra: Record<string, string> = { offset: '0', length: '8' }): onnx.ITensorProto {
    const t = f32Tensor(name, dims, [1, 2]);
    t.rawData = null;
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    t.externalData = [{ key: 'location', value: location }, ...Object.entries(extra).map(([key, value]) => ({ key, value }))];
    return t;
  }
  const setLocation = (m: Model, location: string) => {
    const t = m.graph!.initializer!.find((i) => i.externalData?.length)!;
    t.externalData!.find((e) => e.key === 'location')!.value = location;
  };
  /** A small file outside the model folder that the hostile graph tries to read. */
  const secret = (dir: string) => {
    const file = path.join(path.dirname(dir), 'secret.bin');
    writeFileSync(file, Buffer.alloc(64, 7));
    return file;
  };

  describe('external data', () => {
    test("a location with '..' is refused before onnxruntime sees it", async () => {
      const dir = folder((d) => (secret(d), editGraph(d, (m) => setLocation(m, '../../secret.bin'))), true);
      await refused(dir, /initializer\) has external data location '\.\.\/\.\.\/secret\.bin', which climbs out of the model folder with '\.\.'/);
    });

    test('an absolute location is refused', async () => {
      const dir = folder((d) => editGraph(d, (m) => setLocation(m, secret(d))), true);
      await refused(dir, /which is an absolute path; refusing to load it/);
    });

    test('a data file that is a link to a file outside the folder is refused, even holding the right weights', async () => {
      const dir = folder((d) => {
        const data = path.join(d, 'onnx', 'model.onnx_data');
        const outside = path.join(path.dirname(d), 'weights.bin');
        renameSync(data, outside);
        symlinkSync(outside, data);
      }, true);
      await refused(dir, /which resolves \(through a link\) to .*weights\.bin, outside the model folder/);
    });

    test('an onnx/ folder that is a link to a folder outside is refused', async () => {
      const dir = folder((d) => {
        const outside = path.join(path.dirname(d), 'elsewhere');
        renameSync(path.join(d, 'onnx'), outside);
        symlinkSync(outside, path.join(d, 'onnx'));
      }, true);
      await refused(dir, /resolves \(through a link\) to .*elsewhere\/model\.onnx_data, outside the model folder/);
    });

    test('external data in subgraphs (If g, Loop body inside If, GRAPHS attributes, 70 levels deep) is found', async () => {
      const escaping = (name: string): onnx.IGraphProto => ({ name, node: [node('Identity', ['w'], ['y'], `${name}/id`)], initializer: [externalTensor('w', '../../secret.bin')], output: [valueInfo('y', 1, [2])] });
      const ifNode = (name: string, branch: onnx.IGraphProto): onnx.INodeProto => ({
        ...node('If', ['cond'], ['out'], name),
        attribute: [{ name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch }, { name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: { name: 'else' } }],
      });
      const cases: [string, onnx.INodeProto, RegExp][] = [
        ['If', ifNode('if0', escaping('then')), /tensor 'w' \(node 'if0' \(If\) attribute 'then_branch' > initializer\) has external data location '\.\.\/\.\.\/secret\.bin'/],
        [
          'Loop in If',
          ifNode('outer', { name: 'b', node: [{ ...node('Loop', ['', 'cond'], ['o'], 'loop0'), attribute: [{ name: 'body', type: onnx.AttributeProto.AttributeType.GRAPH, g: escaping('body') }] }] }),
          /node 'outer' \(If\) attribute 'then_branch' > node 'loop0' \(Loop\) attribute 'body' > initializer/,
        ],
        ['GRAPHS', { ...node('Custom', [], [], 'multi'), attribute: [{ name: 'bodies', type: onnx.AttributeProto.AttributeType.GRAPHS, graphs: [{ name: 'ok' }, escaping('two')] }] }, /node 'multi' \(Custom\) attribute 'bodies' > initializer/],
      ];
      for (const [what, extra, message] of cases) {
        const dir = folder((d) => (secret(d), editGraph(d, (m) => m.graph!.node!.push(extra))));
        await refused(dir, message).catch((e: Error) => assert.fail(`${what}: ${e.message}`));
      }
      let deep = ifNode('level70', escaping('innermost'));
      for (let i = 69; i > 0; i--) deep = ifNode(`level${i}`, { name: `g${i}`, node: [deep] });
      await refused(folder((d) => editGraph(d, (m) => m.graph!.node!.push(deep))), /subgraphs are nested more than 64 levels deep/);
    });

    test("external data in Constant attributes (t, tensors, sparse_value) and in model functions' nodes is found", async () => {
      const T = onnx.AttributeProto.AttributeType;
      const sparse = (values: onnx.ITensorProto): onnx.ISparseTensorProto => ({ values, indices: i64Tensor('idx', [1], [0]), dims: [4] });
      const constant = (attribute: onnx.IAttributeProto) => ({ ...node('Constant', [], ['c_out'], 'c0'), attribute: [attribute] });
      const cases: [(m: Model) => void, RegExp][] = [
        [(m) => m.graph!.node!.push(constant({ name: 'value', type: T.TENSOR, t: externalTensor('cv', '/etc/passwd') })), /tensor 'cv' \(node 'c0' \(Constant\) attribute 'value'\) has external data location '\/etc\/passwd', which is an absolute path/],
        [(m) => m.graph!.node!.push({ ...node('Custom', [], [], 'n'), attribute: [{ name: 'many', type: T.TENSORS, tensors: [f32Tensor('fine', [1], [1]), externalTensor('second', '../x')] }] }), /tensor 'second' \(node 'n' \(Custom\) attribute 'many'\)/],
        [(m) => m.graph!.node!.push(constant({ name: 'sparse_value', type: T.SPARSE_TENSOR, sparseTensor: sparse(externalTensor('sv', '../x', [1])) })), /tensor 'sv' \(node 'c0' \(Constant\) attribute 'sparse_value', sparse values\)/],
        [(m) => (m.graph!.sparseInitializer = [{ values: f32Tensor('vals', [1], [1]), indices: { ...externalTensor('si', '../x', [1]), dataType: DataType.INT64 }, dims: [4] }]), /tensor 'si' \(sparse initializer, sparse indices\)/],
        [
          (m) => (m.functions = [{ name: 'f', domain: 'local', node: [constant({ name: 'value', type: T.TENSOR, t: externalTensor('fv', '../x') })] }]),
          /tensor 'fv' \(function > node 'c0' \(Constant\) attribute 'value'\)/,
        ],
      ];
      for (const [edit, message] of cases) await refused(folder((d) => editGraph(d, edit)), message);
    });

    test('locations that are empty, hold a NUL byte, name a directory or a missing file, or bytes past the end are refused', async () => {
      const cases: [(m: Model) => void, RegExp][] = [
        [(m) => setLocation(m, ''), /location '', which is empty/],
        [(m) => setLocation(m, 'model.onnx_data\0.txt'), /which contains a NUL byte/],
        [(m) => setLocation(m, '.'), /location '\.', which is a directory, not a file/],
        [(m) => setLocation(m, 'absent.bin'), /which does not exist/],
        [(m) => m.graph!.initializer!.find((i) => i.externalData?.length)!.externalData!.find((e) => e.key === 'offset')!.value = '1e3', /comes with offset '1e3', not a byte count/],
        [(m) => m.graph!.initializer!.find((i) => i.externalData?.length)!.externalData!.find((e) => e.key === 'offset')!.value = '999999999', /holds \d+ bytes, but the tensor \(dims \[\d+(, \d+)*\] of float32\) needs bytes 999999999 to \d+/],
        [(m) => (m.graph!.initializer!.find((i) => i.externalData?.length)!.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL, m.graph!.initializer!.find((i) => i.externalData?.length)!.externalData = []), /location '', which is empty/],
      ];
      for (const [edit, message] of cases) await refused(folder((d) => editGraph(d, edit), true), message);
    });

    test('external data inside the folder, on a Constant of a graph with embedded weights, loads (the scan refuses only what escapes)', async () => {
      const dir = folder((d) => {
        writeFileSync(path.join(d, 'onnx', 'const.bin'), Buffer.from(new Float32Array([1, 2]).buffer));
        editGraph(d, (m) => {
          m.graph!.node!.push({ ...node('Constant', [], ['const_out'], 'c_in'), attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: externalTensor('cin', 'const.bin') }] });
          m.graph!.output!.push(valueInfo('const_out', DataType.FLOAT, [2]));
        });
      });
      assert.equal((await load(dir)).dir, dir);
      await load(good.dir);
    });

    test('an external data file shorter than its tensors need is refused', async () => {
      const dir = folder((d) => truncateSync(path.join(d, 'onnx', 'model.onnx_data'), 1000), true);
      await refused(dir, /model\.onnx_data', which holds 1000 bytes, but the tensor \(dims \[.*\] of float32\) needs bytes \d+ to \d+: the file is truncated/);
    });
  });

  describe('corrupt graph files', () => {
    const corrupt = /model\.onnx is not a valid ONNX protobuf \(.+\); the file may be truncated or corrupt/;

    test('random bytes', async () => {
      let seed = 12345;
      const bytes = Buffer.alloc(4096, 0).map(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed >> 16) & 0xff);
      await refused(folder((d) => writeFileSync(graphFile(d), bytes)), corrupt);
    });

    test('a graph cut short at seven points', async () => {
      const dir = folder(() => {});
      const bytes = readFileSync(graphFile(dir));
      for (const cut of [1, 10, 100, Math.floor(bytes.length / 4), Math.floor(bytes.length / 2), Math.floor((bytes.length * 3) / 4), bytes.length - 1]) {
        writeFileSync(graphFile(dir), bytes.subarray(0, cut));
        await refused(dir, corrupt).catch((e: Error) => assert.fail(`cut at ${cut}: ${e.message}`));
      }
    });

    test('an empty file', async () => {
      await refused(folder((d) => writeFileSync(graphFile(d), '')), /model\.onnx: the file is empty \(0 bytes\): truncated/);
    });

    test('a valid protobuf that is not a model (a lone tensor; a model without a graph)', async () => {
      const tensor = onnx.TensorProto.encode(f32Tensor('w', [2], [1, 2])).finish();
      await refused(folder((d) => writeFileSync(graphFile(d), tensor)), /model\.onnx decoded but holds no graph nodes; expected an ONNX ModelProto with a graph/);
      await refused(folder((d) => editGraph(d, (m) => (m.graph = null))), /holds no graph nodes/);
    });

    test('a graph whose nodes onnxruntime rejects (a custom op: no custom-op library is ever registered)', async () => {
      const dir = folder((d) =>
        editGraph(d, (m) => {
          m.opsetImport!.push({ domain: 'ai.onnx.contrib', version: 1 });
          m.graph!.node!.push(node('StringRegexReplace', ['input_ids'], ['custom_out'], 'custom', {}, 'ai.onnx.contrib'));
        }),
      );
      await refused(dir, /onnxruntime cannot load the graph: .*StringRegexReplace/);
    });
  });

  describe('dtypes', () => {
    test('a dtype the folder does not have names the dtypes it has', async () => {
      await refused(folder(() => {}), /no onnx\/model_fp16\.onnx .* for dtype fp16; available dtypes: fp32/, { dtype: 'fp16' });
    });

    test('input_ids of type float, logits of type int32, a KV cache of type int64', async () => {
      const retype = (name: string, type: number) => (m: Model) => {
        [...m.graph!.input!, ...m.graph!.output!].find((v) => v.name === name)!.type!.tensorType!.elemType = type;
      };
      await refused(folder((d) => editGraph(d, retype('input_ids', DataType.FLOAT))), /input_ids must be int64, it is float32/);
      await refused(folder((d) => editGraph(d, retype('logits', DataType.INT32))), /logits must be float32 or float16, it is int32/);
      await refused(folder((d) => editGraph(d, retype('past_key_values.1.value', DataType.INT64))), /past_key_values\.1\.value must be float32 or float16, it is int64/);
    });
  });

  describe('tokenizer and chat template', () => {
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
      test(`a missing ${file} is named`, async () => {
        await refused(folder((d) => unlinkSync(path.join(d, file))), new RegExp(`${file.replace('.', '\\.')} is missing in .*; a transformers\\.js model folder needs`));
      });

      test(`a ${file} that is not JSON is named`, async () => {
        await refused(folder((d) => writeFileSync(path.join(d, file), '{"model": {"type": "BPE", ')), new RegExp(`${file.replace('.', '\\.')} is not valid JSON`));
      });
    }

    test('a tokenizer.json of the wrong shape is a specific load error', async () => {
      await refused(folder((d) => writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify({ model: { type: 'NoSuchModel' } }))), /the tokenizer in .* cannot be loaded: /);
    });

    test('no chat template: the model loads (base models have none), every chat request is refused naming the fix, raw text works', async () => {
      const dir = folder((d) => editJson(d, 'tokenizer_config.json', (j) => delete j.chat_template));
      const info = await load(dir);
      assert.equal(info.hasChatTemplate, false);
      await assert.rejects(engine.request('tokenize', { prompt: 'hello', chat: true }), (e: EngineRequestError) => {
        assert.equal(e.code, 'MODEL_INVALID');
        assert.match(e.message, /tokenizer_config\.json has no chat_template \(and there is no chat_template\.jinja\); use chat: false or add a template/);
        return true;
      });
      await assert.rejects(engine.request('extract', { harmful: ['a', 'b', 'c', 'd'], harmless: ['e', 'f', 'g', 'h'] }), /needs a chat template/);
      assert.deepEqual((await engine.request('tokenize', { prompt: 'hello', chat: false })).text, 'hello');
      await load(good.dir);
    });

    test('a template reaching for JavaScript (constructor, __globals__, __proto__) runs no code and leaks nothing', async () => {
      const marker = path.join(tempDir('faults1-marker'), 'pwned');
      const payload = `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`;
      for (const call of [`''.constructor.constructor(${JSON.stringify(payload)})()`, `range.constructor(${JSON.stringify(payload)})()`, `messages.constructor.constructor(${JSON.stringify(payload)})()`]) {
        const dir = folder((d) => editJson(d, 'tokenizer_config.json', (j) => (j.chat_template = `{{ ${call} }}`)));
        await refused(dir, /the chat template failed to render: Cannot call something that is not a function/);
      }
      assert.equal(existsSync(marker), false, 'the payload never ran');
      const probe = "{{ cycler.__init__.__globals__ }}{{ messages.__proto__ }}{{ ''.constructor }}{{ self }}{{ messages[0].content }}";
      await load(folder((d) => editJson(d, 'tokenizer_config.json', (j) => (j.chat_template = probe))));
      assert.equal((await engine.request('tokenize', { prompt: 'hello', chat: true })).text, 'hello', 'the attribute walks render as nothing');
      await load(good.dir);
    });

    test('templates that try to exhaust the engine (range(10**9), recursion, a string doubled 64 times) fail with a specific error, the engine survives', async () => {
      const cases: [string, RegExp][] = [
        ['{% for x in range(10**9) %}{% endfor %}', new RegExp(`range\\(\\) of 1000000000 items is refused: chat templates may iterate over at most ${MAX_RANGE}`)],
        ['{% for x in range(0, 10**12, 2) %}{% endfor %}', /range\(\) of 500000000000 items is refused/],
        ["{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", /the chat template failed to render: Cannot call something that is not a function/],
        ["{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}", /the chat template failed to render: Invalid string length/],
        ["{{ raise_exception('this model refuses') }}", /the chat template failed to render: this model refuses/],
        ['{% for m in messages %', /the chat template in .* cannot be parsed: /],
      ];
      for (const [template, message] of cases) await refused(folder((d) => editJson(d, 'tokenizer_config.json', (j) => (j.chat_template = template))), message);
      // Within the limit, range and attributes named range keep working.
      await load(folder((d) => editJson(d, 'tokenizer_config.json', (j) => (j.chat_template = "{% for i in range(2, 8, 3) %}{{ i }}{% endfor %}{{ messages[0]['range'] }}"))));
      assert.equal((await engine.request('tokenize', { prompt: 'hi', chat: true })).text, '25');
      await load(good.dir);
    });
  });

  describe('config.json against the graph', () => {
    const config = (patch: Record<string, unknown>) => folder((d) => editJson(d, 'config.json', (j) => Object.assign(j, patch)));

    test('a missing config.json, and one that is not JSON', async () => {
      await refused(folder((d) => unlinkSync(path.join(d, 'config.json'))), /config\.json is missing in .*; a transformers\.js model folder needs config\.json/);
      await refused(folder((d) => writeFileSync(path.join(d, 'config.json'), '{ nope')), /config\.json is not valid JSON/);
    });

    test('more or fewer layers than the graph has', async () => {
      await refused(config({ num_hidden_layers: good.config.layers + 1 }), new RegExp(`found ${2 * good.config.layers} residual updates but config\\.json declares ${good.config.layers + 1} layers`));
      await refused(config({ num_hidden_layers: good.config.layers - 1 }), new RegExp(`found ${2 * good.config.layers} residual updates but config\\.json declares ${good.config.layers - 1} layers`));
    });

    test('a different hidden size', async () => {
      await refused(config({ hidden_size: good.config.hidden * 2 }), new RegExp(`config\\.json says hidden_size ${good.config.hidden * 2}, but the graph's token embedding table is ${good.config.vocabSize} × ${good.config.hidden}`));
    });

    test('different KV heads', async () => {
      await refused(config({ num_key_value_heads: 1 }), new RegExp(`config\\.json implies a KV cache of 1 heads × ${good.config.headDim}, but the graph's past_key_values are ${good.config.kvHeads} × ${good.config.headDim}`));
    });

    test('a vocab_size that is not the width of the logits', async () => {
      await refused(config({ vocab_size: good.config.vocabSize + 6 }), new RegExp(`config\\.json says vocab_size ${good.config.vocabSize + 6}, but the graph's logits output has width ${good.config.vocabSize}`));
    });
  });

  describe('huge declared dimensions', () => {
    test('a config with enormous sizes is refused by its schema', async () => {
      await refused(folder((d) => editJson(d, 'config.json', (j) => (j.num_hidden_layers = 1e9))), /config\.json: num_hidden_layers: must be at most 1024/);
      await refused(folder((d) => editJson(d, 'config.json', (j) => (j.hidden_size = 1e12))), /hidden_size: must be at most 65536/);
      await refused(folder((d) => editJson(d, 'config.json', (j) => (j.vocab_size = 1e10))), /vocab_size: must be at most 4000000/);
    });

    test('an embedded initializer declaring [1e12] elements (or a negative dim) is refused before anything allocates it', async () => {
      const redim = (dims: number[]) => (m: Model) => (m.graph!.initializer![0].dims = dims);
      await refused(folder((d) => editGraph(d, redim([1e12]))), /tensor '.*' \(initializer\) declares dims \[1000000000000\] of float32 \(1000000000000 elements\) but holds \d+ bytes of raw data; the file is corrupt or crafted/);
      await refused(folder((d) => editGraph(d, redim([-1, 4]))), /declares dims \[.*\] of float32: a negative or impossibly large size/);
      const typed = { ...f32Tensor('typed', [1e9], [1]), rawData: null, floatData: [1, 2] };
      await refused(folder((d) => editGraph(d, (m) => m.graph!.initializer!.push(typed))), /tensor 'typed' \(initializer\) declares dims \[1000000000\] of float32 \(1000000000 elements\) but holds data for at most 16 elements/);
    });

    test('an external initializer declaring [1e12] elements is refused by its length', async () => {
      const dir = folder((d) => editGraph(d, (m) => (m.graph!.initializer!.find((i) => i.externalData?.length)!.dims = [1e12])), true);
      await refused(dir, /which gives length \d+, but the tensor's dims \[1000000000000\] of float32 need 4000000000000 bytes/);
    });

    test('graph inputs with huge fixed dims are refused with the shapes, before a session exists', async () => {
      const fix = (name: string, dims: number[]) => (m: Model) => {
        const dim = m.graph!.input!.find((v) => v.name === name)!.type!.tensorType!.shape!.dim!;
        dims.forEach((d, i) => (dim[i] = { dimValue: d }));
      };
      await refused(folder((d) => editGraph(d, fix('input_ids', [1e12, 1e12]))), /input_ids has fixed shape \[1000000000000, 1000000000000\]; its batch and sequence dims must be symbolic/);
      await refused(folder((d) => editGraph(d, fix('attention_mask', [1, 4096]))), /attention_mask has fixed shape \[1, 4096\]/);
      const kv = folder((d) => editGraph(d, (m) => m.graph!.input!.filter((v) => v.name!.startsWith('past_key_values')).forEach((v) => fix(v.name!, [1, 1e12])(m))));
      await refused(kv, new RegExp(`config\\.json implies a KV cache of ${good.config.kvHeads} heads × ${good.config.headDim}, but the graph's past_key_values are 1000000000000 × ${good.config.headDim}`));
    });
  });

  test('no engine log reports an internal error for any of the folders above', () => {
    assert.deepEqual(logs.filter((l) => /failed: /.test(l)), []);
  });
});
