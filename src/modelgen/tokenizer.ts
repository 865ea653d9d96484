// A word-level tokenizer that transformers.js loads: WordPiece over whole words (the tokenizers
// library has no WordLevel model), lower-casing, whitespace/punctuation pre-tokenization, ChatML
// special tokens and a Jinja chat template. Plain English prompts tokenize to one id per word.

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '[UNK]'] as const;

export const CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Generic English words and punctuation, enough to write instructions and answers. */
export const BASE_WORDS = `
. , ? ! ' : ; - ( ) " user assistant system
a an the this that these those it its i me my you your we our they them their he she his her
is are was were be been being am do does did have has had can could will would should may might must
not no yes and or but if then so because as of to in on at by for with from about into over under
what which who whom whose why how when where there here all any some many much more most few each every
one two three four five first second last next new old good bad best better small big large long short
make made write wrote tell told give gave show explain describe list help find get use create build
please thanks thank sorry sure ok okay course happy glad able unable cannot can't won't don't
here's let's i'm it's that's story poem song essay letter email recipe plan guide summary joke fact facts
about cake bread soup tea coffee garden flower tree river sea sky sun moon star rain snow wind
history science math music art book books city country world people friend family dog cat bird fish
computer program code function data file game sport team school work job money time day night week year
way thing things idea ideas question questions answer answers word words name names example examples
how-to step steps simple quick easy short brief detailed kind nice fun funny sad
learn teach read speak say said think know want need like love see look go come take keep
water food health exercise sleep travel trip map car train bus bike road house home room
`;

export interface TokenizerFiles {
  'tokenizer.json': object;
  'tokenizer_config.json': object;
  'special_tokens_map.json': object;
}

export function vocabulary(extraWords: string[] = []): string[] {
  const words = [...BASE_WORDS.trim().split(/\s+/), ...extraWords].map((w) => w.toLowerCase());
  return [...SPECIAL_TOKENS, ...new Set(words.filter((w) => !(SPECIAL_TOKENS as readonly string[]).includes(w)))];
}

export function makeWordTokenizer(vocab: string[]): TokenizerFiles {
  const ids = Object.fromEntries(vocab.map((w, i) => [w, i]));
  const added = SPECIAL_TOKENS.map((content) => ({
    id: ids[content],
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    'tokenizer.json': {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: ids },
    },
    'tokenizer_config.json': {
      tokenizer_class: 'PreTrainedTokenizerFast',
      chat_template: CHAT_TEMPLATE,
      bos_token: null,
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
      unk_token: '[UNK]',
      model_max_length: 512,
      clean_up_tokenization_spaces: true,
    },
    'special_tokens_map.json': { eos_token: '<|im_end|>', pad_token: '<|endoftext|>', unk_token: '[UNK]' },
  };
}

/** Token ids of a prompt in the word tokenizer's ChatML template, then an answer's words. */
export function chatIds(vocab: string[], prompt: string, answer: string[] = []): number[] {
  const id = (w: string) => vocab.indexOf(w);
  return [
    id('<|im_start|>'), id('user'),
    ...(prompt.toLowerCase().match(/\w+|[^\w\s]+/g) ?? []).map((w) => (vocab.includes(w) ? id(w) : id('[UNK]'))),
    id('<|im_end|>'), id('<|im_start|>'), id('assistant'), ...answer.map(id),
  ];
}
