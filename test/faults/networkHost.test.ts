// Fault injection, category 5, in a real VS Code (code-server in Chromium, see
// test/support/vscodeHost.ts): VS Code's own proxy and offline settings reach the engine's Hub
// downloads. The Hub is the loopback stand-in (test/support/hubServer.ts, named by HF_ENDPOINT in
// code-server's environment), VS Code's `http.proxy` names a loopback CONNECT proxy, and the model
// setting is a Hub id; then refusalLens.allowDownloads is turned off in the settings editor. dist/
// must be built (`npm test` does).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PROXY_STRICT_SSL_ENV } from '../../src/protocol';
import { fixture } from '../support/fixtures';
import { type HubServer, startHub } from '../support/hubServer';
import { tempDir } from '../support/paths';
import { startProxy } from '../support/proxyServer';
import { HARNESS_SKIP, startVsCode, type VsCodeSession } from '../support/vscodeHost';

const INSPECT = 'Refusal Lens: Inspect Model';

describe('faults 5: network paths', { skip: HARNESS_SKIP, timeout: 10 * 60_000 }, () => {
  const fx = fixture({ style: 'torch', dtype: 'fp32' });
  let hub: HubServer;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let vs: VsCodeSession;
  before(async () => {
    hub = await startHub(fx.dir, 'acme/tiny');
    proxy = await startProxy('tunnel');
    vs = await startVsCode({
      workspace: tempDir('faults5-host'),
      settings: {
        'refusalLens.model': 'acme/tiny',
        'refusalLens.dtype': 'fp32',
        'http.proxy': proxy.url,
        'http.proxyStrictSSL': false,
      },
      env: { HF_ENDPOINT: hub.hub, HF_HUB_CACHE: tempDir('faults5-hf-cache'), HTTPS_PROXY: '', HTTP_PROXY: '', NO_PROXY: '', HF_HUB_OFFLINE: '' },
    });
  });
  after(async () => {
    await vs?.close();
    await proxy?.close();
    await hub?.close();
  });

  test("in VS Code: a Hub model downloads through VS Code's http.proxy with a progress bar, and loads", async () => {
    // Slow enough (about 3 s for the graph) that the progress notification can be seen.
    hub.faults.trickle = Math.max(256, Math.ceil(statSync(fx.onnxPath).size / 600));
    await vs.runCommand(INSPECT);
    // The toast's row holds the message and, beside it, the progress bar.
    const row = vs.page.locator('.notifications-toasts .monaco-list-row').filter({ hasText: /loading acme\/tiny: Downloading acme\/tiny\/onnx\/model\.onnx/ });
    await row.waitFor({ timeout: 120_000 });
    const bar = row.locator('.monaco-progress-container.discrete .progress-bit');
    const width = async () => Number((await bar.getAttribute('style').catch(() => ''))?.match(/width: ([\d.]+)%/)?.[1] ?? NaN);
    let seen = await width();
    for (let i = 0; i < 20 && !(seen > 0); i++) seen = await new Promise((r) => setTimeout(r, 100)).then(width);
    assert.ok(seen > 0 && seen < 100, `a determinate bar part-way while the graph downloads (width ${seen}%)`);
    await vs.screenshot('vscode-hub-download');
    await vs.waitForToast(/residual hooks/, 120_000);

    const tunnels = new Set(proxy.tunnels);
    assert.deepEqual([...tunnels].sort(), [new URL(hub.cdn).host, new URL(hub.hub).host].sort(), 'every request went through the proxy: the Hub, and the CDN it redirects to');
    assert.ok(hub.seen.some((s) => s.url.endsWith('/onnx/model.onnx')), 'the graph came from the Hub');
    // What the extension handed the engine process for VS Code's proxy settings.
    const [pid] = vs.enginePids();
    const environ = new Set(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0'));
    assert.ok(environ.has(`HTTPS_PROXY=${proxy.url}`), 'http.proxy reaches the engine');
    assert.ok(environ.has(`${PROXY_STRICT_SSL_ENV}=false`), 'http.proxyStrictSSL: false reaches the engine');
  });

  test('in VS Code: with refusalLens.allowDownloads off, a model not in the cache is an error that says so, and nothing is requested', async () => {
    const requests = hub.seen.length;
    // Edited the way a user does, in the settings editor (VS Code does not watch its settings file
    // for outside writes here). The model path is machine-overridable, and code-server's window is a
    // remote one: such settings apply from the remote (machine) settings, not the local user settings.
    const settings = path.join(vs.dir, 'user-data', 'Machine', 'settings.json');
    const next = { ...(existsSync(settings) ? (JSON.parse(readFileSync(settings, 'utf8') || '{}') as object) : {}), 'refusalLens.model': 'acme/other', 'refusalLens.allowDownloads': false };
    await vs.runCommand('Preferences: Open Remote Settings (JSON)');
    const editor = vs.page.locator('.editor-instance .monaco-editor textarea').first();
    await editor.waitFor({ timeout: 30_000 });
    await editor.focus();
    await vs.page.keyboard.press('Control+A');
    await vs.page.keyboard.insertText(JSON.stringify(next, null, 2));
    // Whatever the editor auto-closed after the cursor goes.
    await vs.page.keyboard.press('Shift+Control+End');
    await vs.page.keyboard.press('Delete');
    await vs.page.keyboard.press('Control+S');
    for (let i = 0; i < 50 && !readFileSync(settings, 'utf8').includes('acme/other'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(JSON.parse(readFileSync(settings, 'utf8')), next, 'the settings file holds exactly the edited settings');
    await vs.runCommand('Notifications: Clear All Notifications');
    await vs.runCommand(INSPECT);
    await vs.waitForToast(/acme\/other \(fp32\) is not in the Hugging Face cache .* downloads are off/, 60_000);
    assert.equal(hub.seen.length, requests, 'no request reached the Hub');
  });
});
