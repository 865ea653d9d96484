// The engine facade: one loaded model with its tokenizer and instrumented decoder, answering the
// protocol's methods. The child process (handlers.ts) and the CLI both drive this class, so
// everything a researcher scripts runs exactly what the extension runs.
import type {
  DoctorResult,
  ForwardResult,
  GenerateResult,
  ModelInfo,
  ParsedParamsOf,
  PromptInput,
  Provider,
  TokenizeResult,
} from '../protocol';
import { checkpoint } from './cancel';
import { compareWithOriginal, DOCTOR_PROMPTS } from './doctor';
import { readDecoderConfig, DecoderConfigInfo } from './model/config';
import { EngineError } from './model/errors';
import { resolveModel } from './model/source';
import { ChatTokenizer, loadTokenizer, textStream } from './model/tokenizer';
import { instrumentCached, InstrumentedModel } from './onnx/cache';
import { OnnxFormatError } from './onnx/proto';
import { Decoder } from './runtime/decoder';
import { forward } from './runtime/forward';
import { generate } from './runtime/generate';
import { hookNames } from './runtime/hooks';
import { openDecoder } from './runtime/open';
import { steeringTensors } from './runtime/steering';

export interface Prepared {
  info: ModelInfo;
  config: DecoderConfigInfo;
  tokenizer: ChatTokenizer;
  instrumented: InstrumentedModel;
}

export interface CallContext {
  signal?: AbortSignal;
  progress?: (message: string, fraction?: number) => void;
  token?: (index: number, tokenId: number, text: string) => void;
}

/** Graph-format problems are the model's fault: report them as MODEL_INVALID with their message. */
async function asModelError<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof OnnxFormatError) throw new EngineError('MODEL_INVALID', `${what}: ${e.message}`);
    throw e;
  }
}

export class Engine {
  private constructor(
    readonly info: ModelInfo,
    readonly config: DecoderConfigInfo,
    readonly tokenizer: ChatTokenizer,
    readonly decoder: Decoder,
    private readonly writerTypes: number[],
    /** Where graphs are cached and how sessions run (the heads analysis opens a graph of its own, on the provider in use). */
    readonly options: { cacheDir: string; threads?: number; provider: Provider },
  ) {}

  /**
   * Everything short of an inference session: files, config, tokenizer and the instrumented graph
   * (built or taken from the cache). Cheap enough for `inspect` on models too big to run.
   */
  static async prepare(params: ParsedParamsOf<'load'>, ctx: CallContext = {}): Promise<Prepared> {
    const files = await resolveModel({
      model: params.model,
      dtype: params.dtype,
      cacheDir: params.cacheDir,
      allowRemote: params.allowRemote,
      onProgress: ctx.progress,
      signal: ctx.signal,
    });
    // Cancellation: after the folder checks, after the tokenizer, inside instrumentCached (see
    // there) and around the session's creation (one synchronous onnxruntime call).
    await checkpoint(ctx.signal);
    const config = await readDecoderConfig(files.configPath);
    ctx.progress?.('Loading the tokenizer');
    const tokenizer = await loadTokenizer(files.dir, { eos: config.eosIds, pad: config.padId, modelVocab: config.vocabSize, template: params.template });
    await checkpoint(ctx.signal);
    const instrumented = await asModelError(files.onnxPath, () =>
      instrumentCached(files.onnxPath, { layers: config.layers, hidden: config.hidden, cacheDir: params.cacheDir, onProgress: (m) => ctx.progress?.(m), signal: ctx.signal }),
    );
    const info: ModelInfo = {
      model: params.model,
      source: files.source,
      dir: files.dir,
      ...(files.revision ? { revision: files.revision } : {}),
      onnxFile: files.onnxPath,
      layout: files.layout,
      ...(files.embedPath ? { embedFile: files.embedPath } : {}),
      dtype: params.dtype,
      architecture: config.architecture,
      modelType: config.modelType,
      layers: config.layers,
      hiddenSize: config.hidden,
      heads: config.heads,
      kvHeads: config.kvHeads,
      vocabSize: config.vocabSize,
      ...(config.maxPositions ? { maxPositions: config.maxPositions } : {}),
      residualOps: instrumented.meta.residualOps,
      hooks: hookNames(config.layers),
      residualHooks: instrumented.meta.updates + 1,
      hasChatTemplate: tokenizer.hasChatTemplate,
      ...(tokenizer.hasChatTemplate ? { chat: tokenizer.chatInfo() } : {}),
      tokenizerClass: tokenizer.className,
      tokenizerSize: tokenizer.vocabSize,
      instrumentedFile: instrumented.path,
      cacheHit: instrumented.cacheHit,
    };
    return { info, config, tokenizer, instrumented };
  }

  static async load(params: ParsedParamsOf<'load'>, ctx: CallContext = {}): Promise<Engine> {
    const { info, config, tokenizer, instrumented } = await Engine.prepare(params, ctx);
    await checkpoint(ctx.signal);
    ctx.progress?.('Creating the inference session');
    const decoder = await asModelError(info.onnxFile, () =>
      openDecoder(instrumented, config, { threads: params.threads, provider: params.provider, padId: tokenizer.padId, embedPath: info.embedFile }),
    );
    const { provider, fallback } = decoder.provider;
    try {
      await checkpoint(ctx.signal);
    } catch (e) {
      await decoder.release();
      throw e;
    }
    ctx.progress?.('Ready', 1);
    return new Engine({ ...info, provider, ...(fallback ? { providerFallback: fallback } : {}) }, config, tokenizer, decoder, instrumented.meta.writerTypes, { cacheDir: params.cacheDir, threads: params.threads, provider });
  }

  private ids(input: PromptInput): number[] {
    if ('ids' in input) {
      const bad = input.ids.find((id) => id >= this.info.vocabSize);
      if (bad !== undefined) throw new EngineError('BAD_REQUEST', `token id ${bad} is outside the model's embedding (config.json's vocab_size is ${this.info.vocabSize}; the tokenizer has ${this.info.tokenizerSize} entries)`);
      return input.ids;
    }
    const ids = this.tokenizer.encode(input.prompt, { chat: input.chat ?? true }).ids;
    if (ids.length === 0) throw new EngineError('BAD_REQUEST', 'the prompt is empty after tokenization');
    return ids;
  }

  tokenize(params: ParsedParamsOf<'tokenize'>): TokenizeResult {
    const { ids, text } = this.tokenizer.encode(params.prompt, { chat: params.chat });
    const postInstructionStart = params.chat ? this.tokenizer.postInstructionStart(ids) : undefined;
    return { ids, text, tokens: this.tokenizer.tokenStrings(ids), ...(postInstructionStart !== undefined ? { postInstructionStart } : {}) };
  }

  async forward(params: ParsedParamsOf<'forward'>, ctx: CallContext = {}): Promise<ForwardResult> {
    const seqs = params.inputs.map((i) => this.ids(i));
    const steering = params.steering && steeringTensors(params.steering, this.info.layers, this.info.hiddenSize);
    const outs = await forward(this.decoder, seqs, { hooks: params.hooks, logits: params.logits, steering, signal: ctx.signal });
    return {
      hidden: this.info.hiddenSize,
      items: outs.map((o, i) => ({ ids: seqs[i], tokens: this.tokenizer.tokenStrings(seqs[i]), residuals: o.residuals, ...(o.logits ? { logits: o.logits } : {}) })),
    };
  }

  async generate(params: ParsedParamsOf<'generate'>, ctx: CallContext = {}): Promise<GenerateResult> {
    const prompt = this.ids(params.input);
    const steering = params.steering && steeringTensors(params.steering, this.info.layers, this.info.hiddenSize);
    const token = ctx.token;
    const stream = params.stream && token ? textStream(this.tokenizer, (text) => token(index++, lastId, text)) : undefined;
    let index = 0;
    let lastId = 0;
    const out = await generate(this.decoder, prompt, {
      maxNewTokens: params.maxNewTokens,
      eosIds: this.tokenizer.eosIds,
      sampling: params.sampling,
      steering,
      hooks: params.hooks,
      useCache: params.useCache,
      signal: ctx.signal,
      onToken: (id) => {
        lastId = id;
        stream?.(id);
      },
    });
    return {
      promptIds: prompt,
      ids: out.ids,
      text: this.tokenizer.decode(out.ids, true),
      stopReason: out.stopReason,
      residuals: out.residuals,
    };
  }

  async doctor(params: ParsedParamsOf<'doctor'>): Promise<DoctorResult> {
    const prompts = params.prompts ?? DOCTOR_PROMPTS;
    const chat = this.tokenizer.hasChatTemplate;
    // A prompt that does not end with the post-instruction tokens is a finding, not a crash; it is run as plain text.
    const problems: string[] = [];
    const seqs = prompts.map((p) => {
      try {
        return this.tokenizer.encode(p, { chat }).ids;
      } catch (e) {
        if (!(e instanceof EngineError) || e.code !== 'BAD_REQUEST' || !chat) throw e;
        problems.push(e.message);
        return this.tokenizer.encode(p, { chat: false }).ids;
      }
    });
    const report = await compareWithOriginal(this.decoder, this.info.onnxFile, seqs, this.writerTypes);
    return {
      ok: report.ok && problems.length === 0,
      provider: this.decoder.provider.provider,
      layout: this.info.layout,
      graphs: [...(this.info.embedFile ? [this.info.embedFile] : []), this.info.onnxFile],
      max_abs_diff: report.maxAbsDiff,
      tolerance: report.tolerance,
      residual_hooks: this.info.residualHooks,
      prompts: report.prompts,
      post_instruction_ok: chat ? problems.length === 0 : null,
      post_instruction_tokens: this.info.chat?.postInstructionTokens ?? [],
      problems,
    };
  }

  async dispose(): Promise<void> {
    await this.decoder.release();
  }
}
