// The active direction per model, the residual-space components and the explorer's last results.
// Directions live as direction files (JSON + checked .f32 sidecar) in global storage; which file is
// active for which model is remembered in global state, so all of it survives a window reload.
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as vscode from 'vscode';
import { checkDirectionsFit, modelOf, readDirections, templateWarning, writeDirections, type Direction, type DirectionsDoc } from '../engine/directions/file';
import type { NamedDirection } from '../engine/directions/score';
import type { SpaceResult } from '../engine/directions/space';
import type { ExplorerViewData, ModelInfo } from '../protocol';
import type { Log } from './notify';

export interface ActiveDirection {
  direction: Direction;
  file: string;
  /** Set when the direction's prompts were rendered with other chat-template variables than the model's now. */
  warning?: string;
}

const ACTIVE_KEY = 'refusalLens.activeDirections';
const EXPLORER_KEY = 'refusalLens.explorer';
export const SPACE_METHOD = 'safety residual space component (Pan et al. 2025)';

/** A stable, file-name-safe key for a model: its folder (where the files were read from) and ONNX file. */
export function modelKey(info: ModelInfo): string {
  const slug = path.basename(info.dir).replace(/[^\w.-]+/g, '_').slice(0, 40);
  return `${slug}-${createHash('sha256').update(`${info.dir}\n${info.onnxFile}`).digest('hex').slice(0, 10)}`;
}

export class DirectionStore {
  private readonly changed = new vscode.EventEmitter<ModelInfo>();
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly state: vscode.Memento,
    private readonly storage: vscode.Uri,
  ) {}

  private file(info: ModelInfo, kind: 'active' | 'space'): string {
    return vscode.Uri.joinPath(this.storage, 'directions', `${modelKey(info)}.${kind}.json`).fsPath;
  }

  /** Whether a direction was made active for the model (not read or checked: for context keys). */
  hasActive(info: ModelInfo): boolean {
    return modelKey(info) in this.state.get<Record<string, string>>(ACTIVE_KEY, {});
  }

  /** The active direction, checked against the model; undefined when none was chosen yet. */
  async active(info: ModelInfo): Promise<ActiveDirection | undefined> {
    const file = this.state.get<Record<string, string>>(ACTIVE_KEY, {})[modelKey(info)];
    if (!file) return undefined;
    const doc = await readDirections(file);
    checkDirectionsFit(doc, info, file);
    const warning = templateWarning(doc, info, 'the active direction');
    return { direction: doc.directions[doc.selected], file, ...(warning ? { warning } : {}) };
  }

  /** Makes a document's selected direction the active one (a copy is kept in global storage). */
  async setActive(info: ModelInfo, doc: DirectionsDoc): Promise<ActiveDirection> {
    checkDirectionsFit(doc, info, 'the new direction');
    const file = this.file(info, 'active');
    await writeDirections(file, doc);
    await this.state.update(ACTIVE_KEY, { ...this.state.get<Record<string, string>>(ACTIVE_KEY, {}), [modelKey(info)]: file });
    this.changed.fire(info);
    return { direction: doc.directions[doc.selected], file };
  }

  /** Imports a direction file; `warning` says when it was made on another model of the same shape. */
  async importFile(info: ModelInfo, file: string): Promise<ActiveDirection & { warning?: string }> {
    const doc = await readDirections(file);
    const warning = [checkDirectionsFit(doc, info, file), templateWarning(doc, info, path.basename(file))].filter(Boolean).join('; ') || undefined;
    return { ...(await this.setActive(info, doc)), ...(warning ? { warning } : {}) };
  }

  async exportTo(info: ModelInfo, file: string): Promise<void> {
    const active = await this.active(info);
    if (!active) throw new Error('there is no active direction to export; extract or import one first');
    await writeDirections(file, await readDirections(active.file));
  }

  /** Saves the space's components (every layer) as a direction file, for score tooltips and export. */
  async saveSpace(info: ModelInfo, space: SpaceResult): Promise<void> {
    const directions = space.layers.flatMap((l) =>
      l.components.map((vector, k) => ({ name: `C${k}@${l.layer}`, layer: Math.min(l.layer, info.layers - 1), position: -1, method: SPACE_METHOD, vector, scores: { accuracy: l.accuracy[k] } })),
    );
    if (directions.length === 0) return;
    await writeDirections(this.file(info, 'space'), { model: modelOf(info), directions, selected: 0 });
  }

  /** Components read at the given layer (for the score panel's tooltips); none before a space was computed. */
  async components(info: ModelInfo, layer: number): Promise<NamedDirection[]> {
    let doc: DirectionsDoc;
    try {
      doc = await readDirections(this.file(info, 'space'));
    } catch {
      return [];
    }
    return doc.directions.filter((d) => d.name.endsWith(`@${layer}`)).map((d) => ({ name: d.name, vector: d.vector, layer }));
  }

  explorer(info: ModelInfo): Partial<ExplorerViewData> {
    return this.state.get<Record<string, Partial<ExplorerViewData>>>(EXPLORER_KEY, {})[modelKey(info)] ?? {};
  }

  async saveExplorer(info: ModelInfo, data: Partial<ExplorerViewData>): Promise<void> {
    const { task: _task, ...kept } = data;
    await this.state.update(EXPLORER_KEY, { ...this.state.get(EXPLORER_KEY, {}), [modelKey(info)]: kept });
  }

  dispose(): void {
    this.changed.dispose();
  }
}

/** Template-mismatch warnings already shown in this window (a live rescoring would repeat them). */
const warned = new Set<string>();

/**
 * The active direction, or, when there is none yet, an offer to extract one (with the model's own
 * or the built-in prompt sets) or import a file. Undefined if the user declines.
 */
export async function requireDirection(store: DirectionStore, info: ModelInfo, label: string, log: Log): Promise<ActiveDirection | undefined> {
  const active = await store.active(info);
  if (active?.warning && !warned.has(active.warning)) {
    warned.add(active.warning);
    log.warn(active.warning);
    void vscode.window.showWarningMessage(vscode.l10n.t('Refusal Lens: {0}.', active.warning));
  }
  if (active) return active;
  const extract = vscode.l10n.t('Extract Now');
  const pick = await vscode.window.showWarningMessage(vscode.l10n.t('Refusal Lens has no refusal direction for {0} yet.', label), extract, vscode.l10n.t('Import Direction File…'));
  log.info(`no direction for ${label} yet: ${pick ?? 'dismissed'}`);
  if (pick === extract) await vscode.commands.executeCommand('refusalLens.extractDirection');
  else if (pick) await vscode.commands.executeCommand('refusalLens.importDirection');
  const now = pick ? await store.active(info) : undefined;
  if (pick) log.info(now ? `continuing with '${now.direction.name}' (layer ${now.direction.layer})` : 'still no direction; stopping');
  return now;
}
