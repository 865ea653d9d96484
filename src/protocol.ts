// The one message protocol spoken between the extension host, the engine child process, the CLI and
// the webviews. Every message that crosses a process or frame boundary is checked with these schemas
// by the receiver; the TypeScript types are inferred from the same schemas so they cannot drift.
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Shared vocabulary

export const DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16'] as const;
export const Dtype = z.enum(DTYPES);

/** A Hugging Face Hub model id, owner/name: what the engine downloads and Select Model accepts. */
export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
export type Dtype = z.infer<typeof Dtype>;
/** onnxruntime execution providers: cpu everywhere; cuda (Linux), dml (Windows), coreml (macOS) where onnxruntime-node has them. */
export const PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml'] as const;
export const Provider = z.enum(PROVIDERS);
export type Provider = z.infer<typeof Provider>;

export const finite = z.number().refine(Number.isFinite, { message: 'must be a finite number' });
const vector = z.array(finite).min(1);

/**
 * Residual hook names, TransformerLens-style: `resid_pre.{l}`, `resid_mid.{l}` for layer l, and
 * `resid_final` (the input of the final norm). `resid_pre.*` / `resid_mid.*` select every layer.
 */
export const HookName = z.string().regex(/^(resid_(pre|mid)\.(\d+|\*)|resid_final)$/, {
  message: "hook names look like 'resid_pre.3', 'resid_mid.*' or 'resid_final'",
});

/**
 * Which token positions an intervention touches. 'all' (every position, prompt and generated, as in
 * Arditi et al.), 'last' (the last prompt position and every generated token, as in Pan et al.), or
 * explicit prompt positions (negative counts from the end of the prompt).
 */
export const Positions = z.union([z.literal('all'), z.literal('last'), z.array(z.number().int()).min(1)]);
export type Positions = z.infer<typeof Positions>;

export const Steering = z
  .object({
    /** Directional ablation of span(basis) at every layer: x <- x - B Bᵀ x. Orthonormalized by the engine. */
    ablate: z.array(vector).min(1).optional(),
    /** Activation addition x <- x + coefficient·vector into the residual entering each listed layer (layer L: the final norm's input). */
    add: z
      .array(
        z.object({
          vector,
          layers: z.array(z.number().int().nonnegative()).min(1),
          coefficient: finite.default(1),
        }),
      )
      .optional(),
    positions: Positions.default('all'),
  })
  .strict();
export type Steering = z.input<typeof Steering>;
export type SteeringParsed = z.output<typeof Steering>;

/**
 * Chat-template variables a researcher controls. `system`: 'none' (no system prompt; where the
 * template injects a default one, an empty system message replaces it), 'default' (whatever the
 * template does without a system message), 'custom' (`systemPrompt`). `enableThinking`: passed as
 * `enable_thinking` (off for refusal work: a thinking model's first token is otherwise its think tag).
 * `date`: YYYY-MM-DD that `strftime_now` returns, for templates that print today's date.
 */
export const TemplateOptions = z
  .object({
    system: z.enum(['none', 'default', 'custom']).default('none'),
    systemPrompt: z.string().optional(),
    enableThinking: z.boolean().default(false),
    date: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'the date must look like 2025-01-31' })
      .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), { message: 'not a calendar date' })
      .optional(),
  })
  .strict()
  .refine((t) => (t.system === 'custom') === (t.systemPrompt !== undefined), { message: "systemPrompt is given exactly when system is 'custom'" });
export type TemplateOptions = z.input<typeof TemplateOptions>;

/** The template variables a prompt was really rendered with (null: the template does not use that variable). */
export const TemplateInfo = z.object({
  system: z.enum(['none', 'default', 'custom']),
  /** The system text in the rendered prompt ('' for none). */
  systemPrompt: z.string(),
  /** The text the template writes when given no system message ('' when it writes none). */
  defaultSystemPrompt: z.string(),
  enableThinking: z.boolean().nullable(),
  date: z.string().nullable(),
});
export type TemplateInfo = z.infer<typeof TemplateInfo>;

/** What the chat template gives the direction methods, found from full renderings. */
export const ChatInfo = z.object({
  postInstructionTokens: z.array(z.string()),
  postInstructionTokenIds: z.array(z.number().int()),
  refusalTokens: z.array(z.string()),
  refusalTokenIds: z.array(z.number().int()),
  template: TemplateInfo,
  /** The rendered prompt for an example instruction. */
  examplePrompt: z.string(),
});
export type ChatInfo = z.infer<typeof ChatInfo>;

export const ModelInfo = z.object({
  /** What the user asked for: a folder or a Hub id. */
  model: z.string(),
  source: z.enum(['local', 'hub']),
  /** Local folder the files were read from (the Hugging Face cache's snapshot for Hub ids). */
  dir: z.string(),
  /** The commit the files are from: a Hub model's, or that of a Hugging Face cache snapshot folder (absent when unknown). */
  revision: z.string().optional(),
  /** The decoder graph; in the split layout it takes inputs_embeds from embedFile. */
  onnxFile: z.string(),
  /** 'single': onnx/model*.onnx; 'split': onnx/embed_tokens*.onnx then onnx/decoder_model_merged*.onnx. */
  layout: z.enum(['single', 'split']),
  embedFile: z.string().optional(),
  dtype: Dtype,
  architecture: z.string(),
  modelType: z.string(),
  layers: z.number().int(),
  hiddenSize: z.number().int(),
  heads: z.number().int(),
  kvHeads: z.number().int(),
  vocabSize: z.number().int(),
  /** Context length from config.json (max_position_embeddings), when it says. */
  maxPositions: z.number().int().optional(),
  /** How the graph builds its residual stream: plain Adds, fused Skip norms, or both. */
  residualOps: z.array(z.string()),
  hooks: z.array(z.string()),
  /** Residual tensors exposed: 2·layers + 1 for a standard decoder. */
  residualHooks: z.number().int(),
  hasChatTemplate: z.boolean(),
  /** Present when the model has a chat template. */
  chat: ChatInfo.optional(),
  tokenizerClass: z.string(),
  /** Entries of the tokenizer (may exceed vocabSize, the model's embedding rows). */
  tokenizerSize: z.number().int(),
  instrumentedFile: z.string(),
  cacheHit: z.boolean(),
  /** The execution provider the session runs on (absent before a session exists, e.g. for inspect). */
  provider: Provider.optional(),
  /** Why the provider asked for is not the one in use (it could not start; the session runs on CPU). */
  providerFallback: z.string().optional(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

// ---------------------------------------------------------------------------------------------
// Engine methods: params and results

export const LoadParams = z
  .object({
    model: z.string().min(1, 'model must be a folder path or a Hugging Face Hub id'),
    dtype: Dtype.default('fp32'),
    /** Where Hub downloads and instrumented graphs are cached. */
    cacheDir: z.string().min(1),
    threads: z.number().int().positive().optional(),
    /** Where onnxruntime runs the model (default cpu; falls back to cpu when the provider cannot start). */
    provider: Provider.optional(),
    /** Hub downloads are refused unless allowed (VS Code's offline setting maps to false). */
    allowRemote: z.boolean().default(true),
    template: TemplateOptions.optional(),
  })
  .strict();
/** Set to 'false' in the engine's environment when VS Code's http.proxyStrictSSL is off: downloads through the proxy then accept certificates that do not verify. */
export const PROXY_STRICT_SSL_ENV = 'REFUSAL_LENS_PROXY_STRICT_SSL';

export const PromptInput = z.union([
  z.object({ prompt: z.string(), chat: z.boolean().default(true) }).strict(),
  z.object({ ids: z.array(z.number().int().nonnegative()).min(1) }).strict(),
]);
export type PromptInput = z.input<typeof PromptInput>;

export const TokenizeParams = z.object({ prompt: z.string(), chat: z.boolean().default(true) }).strict();
export const TokenizeResult = z.object({
  ids: z.array(z.number().int()),
  tokens: z.array(z.string()),
  text: z.string(),
  /** Index of the first post-instruction (template) token after the user's text, when chat is on. */
  postInstructionStart: z.number().int().optional(),
});
export type TokenizeResult = z.infer<typeof TokenizeResult>;

export const ForwardParams = z
  .object({
    inputs: z.array(PromptInput).min(1),
    hooks: z.array(HookName).default([]),
    logits: z.enum(['none', 'last', 'all']).default('last'),
    steering: Steering.optional(),
  })
  .strict();

const f32 = z.custom<Float32Array>((v) => v instanceof Float32Array, { message: 'expected a Float32Array' });
export const ForwardItem = z.object({
  ids: z.array(z.number().int()),
  tokens: z.array(z.string()),
  /** [seq, vocab] for 'all', [vocab] for 'last'. */
  logits: f32.optional(),
  /** Hook name -> [seq, hidden] row-major. */
  residuals: z.record(z.string(), f32),
});
export const ForwardResult = z.object({ items: z.array(ForwardItem), hidden: z.number().int() });
export type ForwardResult = z.infer<typeof ForwardResult>;

export const Sampling = z
  .object({
    temperature: z.number().positive().default(1),
    topK: z.number().int().positive().optional(),
    topP: z.number().gt(0).max(1).optional(),
    seed: z.number().int().default(0),
  })
  .strict();

export const GenerateParams = z
  .object({
    input: PromptInput,
    maxNewTokens: z.number().int().positive().max(8192).default(64),
    /** Absent: greedy decoding. */
    sampling: Sampling.optional(),
    steering: Steering.optional(),
    /** Residuals to record at every generated step (the last position only). */
    hooks: z.array(HookName).default([]),
    useCache: z.boolean().default(true),
    stream: z.boolean().default(true),
  })
  .strict();

export const GenerateResult = z.object({
  promptIds: z.array(z.number().int()),
  ids: z.array(z.number().int()),
  text: z.string(),
  stopReason: z.enum(['eos', 'length', 'cancelled']),
  /** Hook name -> [steps, hidden], one row per generated token's input position. */
  residuals: z.record(z.string(), f32),
});
export type GenerateResult = z.infer<typeof GenerateResult>;

export const DoctorParams = z.object({ prompts: z.array(z.string()).min(1).optional() }).strict();
export const DoctorResult = z.object({
  ok: z.boolean(),
  /** The execution provider both graphs ran on. */
  provider: Provider,
  /** The graph layout checked, with its files (the split layout's embedding graph runs first). */
  layout: z.enum(['single', 'split']),
  graphs: z.array(z.string()),
  max_abs_diff: z.number(),
  tolerance: z.number(),
  residual_hooks: z.number().int(),
  prompts: z.number().int(),
  /** Chat models: whether every doctor prompt ends with the template's post-instruction tokens (null without a template). */
  post_instruction_ok: z.boolean().nullable(),
  post_instruction_tokens: z.array(z.string()),
  /** Why a check failed (the suffix mismatch, named with both token lists). */
  problems: z.array(z.string()),
});
export type DoctorResult = z.infer<typeof DoctorResult>;

// Direction methods (Arditi et al., Pan et al.): see src/engine/directions/.
const PromptList = z.array(z.string().min(1)).min(1);
/** A direction to steer with: the raw vector (difference in means; ablation normalises it, addition uses it as is) and its layer. */
export const DirectionRef = z.object({ vector: vector, layer: z.number().int().nonnegative() }).strict();
export type DirectionRef = z.infer<typeof DirectionRef>;

export const ExtractParams = z
  .object({
    harmful: PromptList,
    harmless: PromptList,
    filterPrompts: z.boolean().default(true),
    klThreshold: z.number().positive().optional(),
    refusalTokens: z.array(z.number().int().nonnegative()).optional(),
    /** Score every candidate (the paper's full table); default: only what selecting the best needs. */
    exhaustive: z.boolean().default(false),
  })
  .strict();

/** Scores candidates an extraction skipped, on its validation prompts (ExtractResult.validation). */
export const ScoreCandidatesParams = z
  .object({
    harmful: PromptList,
    harmless: PromptList,
    candidates: z.array(z.object({ position: z.number().int().negative(), layer: z.number().int().nonnegative(), vector: vector }).strict()).min(1),
    klThreshold: z.number().positive().optional(),
    refusalTokens: z.array(z.number().int().nonnegative()).optional(),
  })
  .strict();

export const ScoreParams = z
  .object({
    prompt: z.string(),
    direction: DirectionRef,
    topK: z.number().int().positive().max(100).optional(),
    /** More directions (e.g. residual-space components) whose per-token projections at their layer come back too. */
    components: z.array(z.object({ name: z.string(), vector: vector, layer: z.number().int().nonnegative() }).strict()).max(64).default([]),
  })
  .strict();

/** Per-head attribution (and, with a suffix, paper A §5's suffix comparison): see src/engine/heads/. */
export const HeadsParams = z
  .object({
    prompt: z.string(),
    direction: DirectionRef,
    /** Token position (negative: from the end); default the last. */
    position: z.number().int().optional(),
    suffix: z.string().min(1).optional(),
    /** The suffix compared with (default none: the prompt as it is). */
    baseline: z.string().optional(),
    top: z.number().int().positive().max(1000).optional(),
  })
  .strict()
  .refine((p) => p.suffix !== undefined || (p.baseline === undefined && p.top === undefined), { message: 'baseline and top go with a suffix' });

/** Top and bottom tokens of the unembedding applied to a direction through the final norm's weight. */
export const LogitLensParams = z.object({ vector: vector, k: z.number().int().positive().max(200).default(10) }).strict();

/** The three runs of an ablation diff: the model as is, the direction ablated, the direction added. */
export const Condition = z.enum(['baseline', 'ablation', 'addition']);
export type Condition = z.infer<typeof Condition>;

/** A completion's verdict: refused (substring list), answered, or degenerate (empty, no letters, a word or short n-gram looping). */
export const Verdict = z.enum(['refused', 'answered', 'degenerate']);
export type Verdict = z.infer<typeof Verdict>;

/** An evaluation streams each prompt's conditions on one token stream each, numbered in Condition's order. */
export const conditionStream = (prompt: number, condition: Condition) => prompt * Condition.options.length + Condition.options.indexOf(condition);
export const streamCondition = (index: number) => ({ prompt: Math.floor(index / Condition.options.length), condition: Condition.options[index % Condition.options.length] });

/** A judge model (folder or Hub id, loaded beside the current one) and how it is asked (directions/judge.ts). */
export const JudgeSpec = z
  .object({
    model: z.string().min(1),
    /** With {prompt} and {response}; default a Llama-Guard-style prompt. */
    template: z.string().min(1).optional(),
    /** The words whose first tokens mean [unsafe, safe]; default ["unsafe", "safe"]. */
    words: z.tuple([z.string().min(1), z.string().min(1)]).optional(),
  })
  .strict();
export type JudgeSpec = z.infer<typeof JudgeSpec>;

const oneCategoryPerPrompt = (p: { prompts: string[]; categories?: string[] }) => !p.categories || p.categories.length === p.prompts.length;
const CATEGORY_MESSAGE = { message: 'categories: give one category per prompt', path: ['categories'] };

export const EvaluateParams = z
  .object({
    prompts: PromptList,
    direction: DirectionRef,
    coefficient: finite.default(1),
    maxNewTokens: z.number().int().positive().max(2048).default(64),
    conditions: z.array(Condition).min(1).optional(),
    /** One per prompt: rates per category come back too. */
    categories: z.array(z.string()).optional(),
    judge: JudgeSpec.optional(),
  })
  .strict()
  .refine(oneCategoryPerPrompt, CATEGORY_MESSAGE);

/** Where the safety space's refusal labels (component accuracy, probe) come from. */
export const SpaceLabelSource = z.enum(['aligned-score', 'base-first-token']);
export type SpaceLabelSource = z.infer<typeof SpaceLabelSource>;

export const SpaceParams = z
  .object({
    prompts: PromptList,
    harmless: PromptList.optional(),
    /** Two-model mode: the base model (folder or Hub id), loaded beside the current one. */
    base: z.string().min(1).optional(),
    components: z.number().int().positive().max(32).default(6),
    interactionOn: PromptList.optional(),
    /** 'aligned-score': the aligned model's refusal score > 0; 'base-first-token' (two-model mode): the base model's greedy first token is a refusal token, as Pan et al. label. */
    labels: SpaceLabelSource.default('aligned-score'),
  })
  .strict();

/** Capability of the model as is and with the direction ablated (directions/capability.ts); without items or text, the built-in set. */
export const CapabilityParams = z
  .object({
    direction: DirectionRef,
    mc: z.array(z.object({ question: z.string().min(1), choices: z.array(z.string().min(1)).min(2), answer: z.number().int().nonnegative() }).strict()).optional(),
    text: z.array(z.string().min(1)).optional(),
  })
  .strict();

/** Pan et al.'s intervention on residual-space components at the last token (directions/intervene.ts). */
export const InterveneParams = z
  .object({
    prompts: PromptList,
    /** One per prompt: rates per category come back too. */
    categories: z.array(z.string()).optional(),
    components: z.array(vector).min(1),
    /** Absent: remove the components; present: subtract alpha·ĉ at each layer's output. */
    alpha: finite.optional(),
    layers: z.array(z.number().int().nonnegative()).min(1).optional(),
    maxNewTokens: z.number().int().positive().max(2048).default(64),
  })
  .strict()
  .refine(oneCategoryPerPrompt, CATEGORY_MESSAGE);

/** Writes the built-in model organism (a planted refusal circuit, see src/modelgen/organism2.ts) once. */
export const OrganismParams = z.object({ dir: z.string().min(1), seed: z.number().int().nonnegative().default(1) }).strict();
export const OrganismResult = z.object({
  dir: z.string(),
  created: z.boolean(),
  /** Prompt-set files written beside the model: harmful_train, harmless_train, jailbreak_test, ... */
  prompts: z.record(z.string(), z.string()),
});
export type OrganismResult = z.infer<typeof OrganismResult>;

export const ExportParams = z.object({ vectors: z.array(vector).min(1), out: z.string().min(1) }).strict();

/**
 * The engine's own counters (answered by the server itself, for tests and diagnosis): session runs
 * finished so far, memory, and for the last cancelled requests how many session runs finished
 * between the cancel note's arrival and the answer (a long operation cancels within one run).
 */
export const StatsResult = z.object({
  sessionRuns: z.number().int(),
  sessionsOpened: z.number().int(),
  rss: z.number(),
  heapUsed: z.number(),
  cancellations: z.array(
    z.object({ id: z.number().int(), method: z.string(), runsAtCancel: z.number().int(), runsAtAnswer: z.number().int().optional(), answer: z.string().optional() }),
  ),
});
export type StatsResult = z.infer<typeof StatsResult>;

/** Results of the direction methods are produced by the engine's own typed code and passed through. */
const engineResult = <T>() => z.custom<T>(() => true);

const Empty = z.object({}).strict().default({});

/** Method table: the single source of truth for what the engine answers. */
export const EngineMethods = {
  load: { params: LoadParams, result: ModelInfo },
  info: { params: Empty, result: ModelInfo },
  tokenize: { params: TokenizeParams, result: TokenizeResult },
  forward: { params: ForwardParams, result: ForwardResult },
  generate: { params: GenerateParams, result: GenerateResult },
  doctor: { params: DoctorParams, result: DoctorResult },
  extract: { params: ExtractParams, result: engineResult<import('./engine/directions/extract').ExtractResult>() },
  scoreCandidates: { params: ScoreCandidatesParams, result: engineResult<import('./engine/directions/extract').Candidate[]>() },
  score: { params: ScoreParams, result: engineResult<import('./engine/directions/score').ScoreResult>() },
  evaluate: { params: EvaluateParams, result: engineResult<import('./engine/directions/evaluate').EvaluateResult>() },
  space: { params: SpaceParams, result: engineResult<import('./engine/directions/space').SpaceResult>() },
  capability: { params: CapabilityParams, result: engineResult<Record<string, import('./engine/directions/capability').CapabilityResult>>() },
  intervene: { params: InterveneParams, result: engineResult<import('./engine/directions/intervene').InterveneResult>() },
  heads: { params: HeadsParams, result: engineResult<import('./engine/heads/heads').HeadsResult>() },
  logitLens: { params: LogitLensParams, result: engineResult<import('./engine/directions/lens').LogitLens>() },
  export: { params: ExportParams, result: z.object({ onnx: z.string() }) },
  organism: { params: OrganismParams, result: OrganismResult },
  shutdown: { params: Empty, result: z.object({}) },
  stats: { params: Empty, result: StatsResult },
} as const;
export type EngineMethod = keyof typeof EngineMethods;
export type ParamsOf<M extends EngineMethod> = z.input<(typeof EngineMethods)[M]['params']>;
export type ParsedParamsOf<M extends EngineMethod> = z.output<(typeof EngineMethods)[M]['params']>;
export type ResultOf<M extends EngineMethod> = z.infer<(typeof EngineMethods)[M]['result']>;

// ---------------------------------------------------------------------------------------------
// Envelopes (JSON-RPC shaped; sent over Node IPC with the 'advanced' serialization so typed arrays
// cross without copying into JSON).

export const ErrorCode = z.enum([
  'BAD_REQUEST', // params failed validation
  'NOT_LOADED', // a method that needs a model was called before load
  'MODEL_INVALID', // the model folder or graph cannot be used; message says why
  'NOT_FOUND', // a file or Hub id does not exist
  'OFFLINE', // a download was needed but remote access is off or unreachable
  'INTEGRITY', // a downloaded file does not match the size or hash its source declared
  'CANCELLED',
  'ENGINE_CRASHED', // raised on the host side when the child process dies
  'ENGINE_HUNG', // raised on the host side when the engine showed no sign of life past the timeout (it is then killed)
  'OUT_OF_MEMORY', // an allocation failed (onnxruntime, V8 or the system); the engine may have died of it
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const RpcError = z.object({ code: ErrorCode, message: z.string(), detail: z.string().optional() });
export type RpcError = z.infer<typeof RpcError>;

export const Request = z.object({
  kind: z.literal('request'),
  id: z.number().int(),
  method: z.string(),
  params: z.unknown(),
});
export type Request = z.infer<typeof Request>;

export const Response = z.union([
  z.object({ kind: z.literal('response'), id: z.number().int(), result: z.unknown() }),
  z.object({ kind: z.literal('response'), id: z.number().int(), error: RpcError }),
]);
export type Response = z.infer<typeof Response>;

/** Notifications: host -> engine `cancel`; engine -> host `progress`, `token`, `partial`, `log`, `heartbeat`. */
export const CancelNote = z.object({ kind: z.literal('cancel'), id: z.number().int() });
export const ProgressNote = z.object({
  kind: z.literal('progress'),
  id: z.number().int(),
  message: z.string(),
  /** 0..1 when known. */
  fraction: z.number().min(0).max(1).optional(),
});
export const TokenNote = z.object({
  kind: z.literal('token'),
  id: z.number().int(),
  index: z.number().int(),
  tokenId: z.number().int(),
  text: z.string(),
});
/** One finished item of a long request (e.g. one prompt of an evaluation), before the whole result. */
export const PartialNote = z.object({ kind: z.literal('partial'), id: z.number().int(), index: z.number().int(), value: z.unknown() });
export const LogNote = z.object({
  kind: z.literal('log'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string(),
});
/**
 * Sent every HEARTBEAT_MS while requests run and the engine's event loop is free (a forward pass
 * blocks it), so the host can tell a long computation from a hung or stopped process.
 */
export const HeartbeatNote = z.object({ kind: z.literal('heartbeat'), rss: z.number().nonnegative() });
export const HEARTBEAT_MS = 1000;
export type ProgressNote = z.infer<typeof ProgressNote>;
export type TokenNote = z.infer<typeof TokenNote>;
export type LogNote = z.infer<typeof LogNote>;
export type PartialNote = z.infer<typeof PartialNote>;

export const HostToEngine = z.union([Request, CancelNote]);
export const EngineToHost = z.union([Response, ProgressNote, TokenNote, PartialNote, LogNote, HeartbeatNote]);
export type HostToEngine = z.infer<typeof HostToEngine>;
export type EngineToHost = z.infer<typeof EngineToHost>;

/** Turns a zod failure into one line naming the offending field. */
export function describeZodError(err: z.ZodError): string {
  return err.issues
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

// ---------------------------------------------------------------------------------------------
// Webviews: what the extension host posts to a panel, and what a panel posts back. Panels keep the
// last data in their webview state, so hiding a panel or reloading the window shows it again
// without recomputing.

const DirectionLabel = z.object({ name: z.string(), layer: z.number().int() });

/** One prompt's per-head view: contributions to the direction and attention at one position. */
export const HeadsRunView = z.object({
  tokens: z.array(z.string()),
  /** [first, end) of the user's instruction among the tokens. */
  instruction: z.tuple([z.number().int(), z.number().int()]),
  position: z.number().int(),
  /** [first, end) of the suffix tokens, in a suffix comparison. */
  suffixTokens: z.tuple([z.number().int(), z.number().int()]).optional(),
  /** contributions[layer][head]: z_h · W_O[h] r̂ at the position. */
  contributions: z.array(z.array(z.number())),
  /** attention[layer][head][token] of the position's query (empty where the pattern cannot be read). */
  attention: z.array(z.array(z.array(z.number()))),
  /** Per layer: where the pattern comes from ('softmax', a fused op computed from q and k, or why none). */
  patterns: z.array(z.string()),
});
export type HeadsRunView = z.infer<typeof HeadsRunView>;

export const HeadsViewData = z.object({
  /** The prompt as run (for a suffix comparison: without either suffix). */
  prompt: z.string(),
  run: HeadsRunView,
  /** Paper A §5: the prompt with the suffix beside the prompt with the baseline suffix ('' : none). */
  comparison: z
    .object({
      suffix: z.string(),
      baseline: z.string(),
      withSuffix: HeadsRunView,
      withBaseline: HeadsRunView,
      /** Per layer (the last: the final norm's input): cos(last token, r̂). */
      cosines: z.array(z.object({ layer: z.number().int(), suffix: z.number(), baseline: z.number() })),
      top: z.array(
        z.object({
          layer: z.number().int(),
          head: z.number().int(),
          suffix: z.number(),
          baseline: z.number(),
          change: z.number(),
          /** Share of the last position's attention on the suffix tokens, with the suffix and with the baseline. */
          suffixShare: z.object({ suffix: z.number(), baseline: z.number() }),
        }),
      ),
    })
    .optional(),
});
export type HeadsViewData = z.infer<typeof HeadsViewData>;

export const ScoreViewData = z.object({
  prompt: z.string(),
  tokens: z.array(z.string()),
  /** [first, end) of the user's instruction among the tokens. */
  instruction: z.tuple([z.number().int(), z.number().int()]),
  /** projections[layer][token] onto the active direction (unit). */
  projections: z.array(z.array(z.number())),
  /** Other directions (residual-space components) at their own layer: one value per token. */
  components: z.array(z.object({ name: z.string(), layer: z.number().int(), values: z.array(z.number()) })).default([]),
  refusalScore: z.number(),
  next: z.array(z.object({ token: z.string(), id: z.number().int(), p: z.number() })),
  triggers: z.array(z.object({ index: z.number().int(), token: z.string(), attribution: z.number(), length: z.number().int().optional() })),
  triggerMethod: z.string(),
  direction: DirectionLabel,
  model: z.string(),
  /** The Heads view, once asked for (Attribute to heads, or the suffix comparison). */
  heads: HeadsViewData.optional(),
});
export type ScoreViewData = z.infer<typeof ScoreViewData>;

export const DiffRow = z.object({
  prompt: z.string(),
  category: z.string().optional(),
  /** Generated text per condition; complete once `done`. */
  texts: z.partialRecord(Condition, z.string()),
  verdict: z.partialRecord(Condition, Verdict),
  /** KL(baseline ‖ condition) of the first next-token distribution. */
  kl: z.partialRecord(Condition, z.number().nullable()),
  /** With a judge model: its call and whether it disagrees with the substring verdict. */
  judge: z.partialRecord(Condition, z.object({ unsafe: z.boolean(), p: z.number(), disagrees: z.boolean() })).optional(),
  done: z.boolean(),
});
export type DiffRow = z.infer<typeof DiffRow>;

export const DiffViewData = z.object({
  model: z.string(),
  direction: DirectionLabel,
  /** What was run: "selection in <file>" or a prompt file's name. */
  source: z.string(),
  conditions: z.array(Condition).min(1),
  coefficient: z.number(),
  maxNewTokens: z.number().int().positive(),
  rows: z.array(DiffRow),
  state: z.enum(['running', 'done', 'cancelled', 'failed']),
  /** Per condition over finished prompts. */
  refusalRate: z.partialRecord(Condition, z.number().nullable()),
  degenerateRate: z.partialRecord(Condition, z.number().nullable()).default({}),
  /** The judge model's name when one ran, with its unsafe and disagreement rates per condition. */
  judge: z.object({ model: z.string(), unsafeRate: z.partialRecord(Condition, z.number().nullable()), disagreementRate: z.partialRecord(Condition, z.number().nullable()) }).optional(),
  meanKl: z.partialRecord(Condition, z.number().nullable()),
  /** The last capability check (the button under the controls): accuracy and perplexity per condition. */
  capability: z
    .object({
      items: z.number().int(),
      tokens: z.number().int(),
      accuracy: z.record(z.string(), z.number().nullable()),
      perplexity: z.record(z.string(), z.number().nullable()),
    })
    .optional(),
  /** Rates per category over finished prompts, when the prompt file has a category column. */
  categories: z
    .array(z.object({ name: z.string(), prompts: z.number().int(), refusalRate: z.partialRecord(Condition, z.number().nullable()), degenerateRate: z.partialRecord(Condition, z.number().nullable()) }))
    .default([]),
});
export type DiffViewData = z.infer<typeof DiffViewData>;

export const CandidateView = z.object({
  layer: z.number().int(),
  position: z.number().int(),
  bypass: z.number().nullable(),
  induce: z.number().nullable(),
  kl: z.number().nullable(),
  norm: z.number().nullable(),
  filtered: z.string().optional(),
  /** Scores fast selection did not compute (the explorer can compute them on demand). */
  skipped: z.string().optional(),
});
export type CandidateView = z.infer<typeof CandidateView>;

export const ExplorerViewData = z.object({
  model: z.string().optional(),
  /** The chat template as the direction methods see it (post-instruction and refusal tokens, variables in effect). */
  chat: ChatInfo.optional(),
  active: z
    .object({ name: z.string(), layer: z.number().int(), position: z.number().int(), method: z.string(), file: z.string().optional(), warning: z.string().optional() })
    .optional(),
  /** Labels of the prompt sets an extraction will use (a file path or "built-in …"). */
  promptSets: z.object({ harmful: z.string(), harmless: z.string() }),
  extraction: z
    .object({
      layers: z.number().int(),
      positions: z.array(z.number().int()),
      counts: z.record(z.string(), z.number()),
      candidates: z.array(CandidateView),
      selected: z.object({ layer: z.number().int(), position: z.number().int() }).optional(),
      report: z.string().optional(),
    })
    .optional(),
  space: z
    .object({
      mode: z.string(),
      prompts: z.number().int(),
      refusedFraction: z.number(),
      layers: z.array(
        z.object({
          layer: z.number().int(),
          eigenvalues: z.array(z.number()),
          effectiveRank: z.record(z.string(), z.number()),
          accuracy: z.array(z.number()),
          /** Best-of-N component and the held-out logistic-probe baseline (absent in results saved before they existed). */
          best: z.object({ component: z.number().int(), accuracy: z.number().nullable() }).optional(),
          probe: z.number().nullable().optional(),
          topTokens: z.array(z.array(z.string())),
        }),
      ),
      interactions: z.array(z.object({ from: z.number().int(), to: z.number().int(), matrix: z.array(z.array(z.number())) })),
      interactionMethod: z.string(),
      /** The prompts the interactions were measured on (absent in results saved before it existed). */
      interactionSet: z.object({ source: z.string(), prompts: z.number().int(), hash: z.string() }).optional(),
      /** Where the refusal labels came from (absent in results saved before it existed). */
      labels: z.object({ source: SpaceLabelSource, rule: z.string(), note: z.string().optional() }).optional(),
      /** The last intervention run from a component's row. */
      intervention: z
        .object({
          layer: z.number().int(),
          component: z.number().int(),
          mode: z.enum(['remove', 'subtract']),
          prompts: z.number().int(),
          refusalRate: z.object({ baseline: z.number(), intervened: z.number() }),
          degenerateRate: z.object({ baseline: z.number(), intervened: z.number() }),
          perplexity: z.object({ baseline: z.number().nullable(), intervened: z.number().nullable() }),
          categories: z.array(z.object({ name: z.string(), prompts: z.number().int(), baseline: z.number(), intervened: z.number() })),
        })
        .optional(),
    })
    .optional(),
  task: z.object({ kind: z.enum(['extract', 'space', 'export', 'intervene']), message: z.string(), fraction: z.number().optional() }).optional(),
  /** Direction geometry: the candidates' cosines, a comparison with another direction file, the active direction's logit lens. */
  geometry: z
    .object({
      /** cos(candidate i, candidate j) of the last extraction, labels[i] its layer and position. */
      candidates: z.object({ labels: z.array(z.object({ layer: z.number().int(), position: z.number().int() })), matrix: z.array(z.array(z.number())) }).optional(),
      comparison: z
        .object({
          file: z.string(),
          model: z.string(),
          /** cos(active direction, the file's selected direction). */
          selected: z.number(),
          other: z.object({ name: z.string(), layer: z.number().int() }),
          layers: z.array(z.object({ layer: z.number().int(), cosine: z.number() })),
        })
        .optional(),
      lens: z
        .object({
          direction: z.string(),
          top: z.array(z.object({ token: z.string(), value: z.number() })),
          bottom: z.array(z.object({ token: z.string(), value: z.number() })),
          method: z.string(),
        })
        .optional(),
    })
    .optional(),
});
export type ExplorerViewData = z.infer<typeof ExplorerViewData>;

export const HostToWebview = z.discriminatedUnion('type', [
  z.object({ type: z.literal('score'), data: ScoreViewData }),
  z.object({ type: z.literal('diff'), data: DiffViewData }),
  /** Streamed text of one prompt × condition (appended to what the panel has). */
  z.object({ type: z.literal('diffToken'), row: z.number().int().nonnegative(), condition: Condition, text: z.string() }),
  z.object({ type: z.literal('explorer'), data: ExplorerViewData }),
  /** What the host is doing for the panel: a stage, its progress (0..1) and whether the panel may cancel it. */
  z.object({ type: z.literal('busy'), message: z.string(), fraction: z.number().min(0).max(1).optional(), cancellable: z.boolean().optional() }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);
export type HostToWebview = z.infer<typeof HostToWebview>;

export const WebviewToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  // Score panel
  /** The user picked a layer or bound mode. */
  z.object({ type: z.literal('view'), layer: z.number().int().nonnegative(), bounds: z.enum(['layer', 'global']) }),
  z.object({ type: z.literal('rescore') }),
  /** Attribute the scored prompt's projection to every attention head (the Heads view). */
  z.object({ type: z.literal('heads') }),
  z.object({ type: z.literal('revealToken'), index: z.number().int().nonnegative() }),
  // Ablation diff panel
  z.object({
    type: z.literal('rerun'),
    coefficient: finite,
    maxNewTokens: z.number().int().positive().max(2048),
    conditions: z.array(Condition).min(1),
  }),
  z.object({ type: z.literal('cancel') }),
  /** Multiple-choice accuracy and perplexity with and without the direction (the built-in set). */
  z.object({ type: z.literal('capability') }),
  // Direction explorer
  z.object({ type: z.literal('extract') }),
  z.object({ type: z.literal('pickPrompts'), which: z.enum(['harmful', 'harmless']) }),
  z.object({ type: z.literal('useCandidate'), layer: z.number().int().nonnegative(), position: z.number().int() }),
  /** Compute the scores fast selection skipped, for every such candidate. */
  z.object({ type: z.literal('scoreSkipped') }),
  z.object({ type: z.literal('space') }),
  /** Remove component k of a space layer at the last token and measure refusal (Pan et al.'s intervention). */
  z.object({ type: z.literal('intervene'), layer: z.number().int().nonnegative(), component: z.number().int().nonnegative() }),
  z.object({ type: z.literal('import') }),
  z.object({ type: z.literal('export') }),
  z.object({ type: z.literal('exportModel') }),
  /** Cosines of the active direction file with another direction file (picked by the host). */
  z.object({ type: z.literal('compareFile') }),
  /** The active direction's logit lens. */
  z.object({ type: z.literal('logitLens') }),
]);
export type WebviewToHost = z.infer<typeof WebviewToHost>;
