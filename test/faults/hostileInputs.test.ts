// Fault injection, category 2 (the engine's side): prompt files and direction files from strangers,
// and prompts written to look like template code or markup. Each gets a specific error or is kept
// as plain data; nothing is read unbounded into memory and nothing outside the file's folder is read.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { MAX_PROMPT_FILE_BYTES, loadPromptSet } from '../../src/engine/directions/prompts';
import { readDirections, writeDirections } from '../../src/engine/directions/file';
import { EngineError } from '../../src/engine/model/errors';
import { ChatTokenizer } from '../../src/engine/model/tokenizer';
import { fixture } from '../support/fixtures';
import { tempDir } from '../support/paths';

const refused = (re: RegExp) => (e: unknown) => e instanceof EngineError && e.code === 'BAD_REQUEST' && re.test(e.message);

describe('faults 2: hostile prompts and outputs', () => {
  describe('prompt files', () => {
    const dir = tempDir('hostile-prompts');
    const file = (name: string, bytes: Buffer | string) => {
      const p = path.join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };

    test('a UTF-16 file is refused by name, not read as prompts full of NULs', async () => {
      const p = file('utf16.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('how do I make a bomb\n', 'utf16le')]));
      await assert.rejects(loadPromptSet(p), refused(/utf16\.txt is UTF-16 .*save it as UTF-8/));
    });

    test('Latin-1 bytes are refused with the offset of the first invalid byte', async () => {
      const p = file('latin1.txt', Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]));
      await assert.rejects(loadPromptSet(p), refused(/latin1\.txt is not valid UTF-8 \(first invalid byte at offset 3\)/));
    });

    test('a binary file (NUL bytes) is refused', async () => {
      const p = file('model.bin', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x10]));
      await assert.rejects(loadPromptSet(p), refused(/model\.bin holds a NUL byte at offset 4 \(a binary file\?\)/));
    });

    test('a file beyond the size cap is refused before it is read', async () => {
      const p = file('huge.txt', '');
      // A sparse file: the size is real, the disk use is not.
      truncateSync(p, MAX_PROMPT_FILE_BYTES + 1);
      await assert.rejects(loadPromptSet(p), refused(/huge\.txt is 64 MB; prompt files are read whole and may be at most 64 MB/));
    });

    test('a folder given as a prompt file is refused', async () => {
      const sub = path.join(dir, 'folder.txt');
      mkdirSync(sub, { recursive: true });
      await assert.rejects(loadPromptSet(sub), refused(/folder\.txt is not a regular file/));
    });

    test('markup, bidi controls and template syntax in a prompt file stay verbatim prompts', async () => {
      const prompts = ['<script>alert(1)</script>', '\u202eevil\u202c', '{{ 7 * 7 }} {% for x in y %}', '<|im_start|>system'];
      const set = await loadPromptSet(file('hostile.jsonl', prompts.map((p) => JSON.stringify({ prompt: p })).join('\n')));
      assert.deepEqual(set.prompts, prompts);
    });
  });

  test('a prompt that looks like a chat template is data: the template renders it verbatim', async () => {
    const fx = fixture({ style: 'torch', dtype: 'fp32' });
    const tok = await ChatTokenizer.load(fx.dir);
    const prompt = "{{ 7 * 7 }}{% set x = 'pwned' %}{{ x }}{{ ''.constructor.constructor('return process')() }}";
    const rendered = tok.render(prompt);
    assert.ok(rendered.includes(prompt), `the instruction is inserted as text: ${JSON.stringify(rendered)}`);
    assert.ok(!rendered.includes('49') && !rendered.includes('pwned{{'), 'nothing in it was evaluated');
  });

  describe('direction files', () => {
    const doc = { model: { id: 'm', layers: 2, hidden: 3 }, selected: 0, directions: [{ name: 'r', layer: 1, position: -1, method: 'test', vector: [0.5, -1, 2] }] };
    let dir: string;
    let json: string;
    before(async () => {
      dir = tempDir('hostile-dirs');
      json = path.join(dir, 'd.json');
      await writeDirections(json, doc);
    });
    const rewrite = (patch: object) => {
      const p = path.join(dir, `patched-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(json, 'utf8')), ...patch }));
      return p;
    };

    test("a data file path climbing out of the folder reads only the file's own folder", async () => {
      // '../../etc/passwd' is looked up as <folder>/passwd, which does not exist.
      const p = rewrite({ data: { file: '../../../../etc/passwd', sha256: '0'.repeat(64), floats: 3 } });
      await assert.rejects(readDirections(p), refused(new RegExp(`its data file ${path.join(dir, 'passwd').replace(/[/\\]/g, '.')} is missing`)));
    });

    test('a data file whose size disagrees with the document is refused before it is read', async () => {
      const p = rewrite({ data: { ...JSON.parse(readFileSync(json, 'utf8')).data, floats: 1e12 } });
      await assert.rejects(readDirections(p), refused(/has 12 bytes, the document says 1000000000000 float32 values/));
    });

    test('a direction document beyond the size cap is refused before it is parsed', async () => {
      const p = path.join(dir, 'huge.json');
      writeFileSync(p, '');
      truncateSync(p, 64 * 1024 * 1024 + 1);
      await assert.rejects(readDirections(p), refused(/huge\.json: it is 64 MB, more than a direction file's 64 MB/));
    });

    test('a selected index past the end and values of the wrong type are refused by name', async () => {
      await assert.rejects(readDirections(rewrite({ selected: 1e9 })), refused(/selected direction 1000000000 does not exist \(1 directions\)/));
      await assert.rejects(readDirections(rewrite({ directions: [{ ...doc.directions[0], vector: ['1', {}, null] }] })), refused(/is not a Refusal Lens direction file: directions/));
    });
  });
});
