// A small capability set written for this project: general-knowledge multiple choice and a few
// paragraphs of plain prose for perplexity. Enough to see an intervention break a real model, not a
// benchmark: bring an lm-evaluation-harness jsonl (--mc) and your own text (--text) for that.
import type { McItem } from './capability';

export const BUILTIN_MC: McItem[] = [
  { question: 'Question: How many legs does a spider have?\nAnswer:', choices: ['six', 'eight', 'ten', 'four'], answer: 1 },
  { question: 'Question: Which gas do plants take in from the air to make sugar?\nAnswer:', choices: ['oxygen', 'nitrogen', 'carbon dioxide', 'helium'], answer: 2 },
  { question: 'Question: What is 7 times 8?\nAnswer:', choices: ['54', '56', '64', '48'], answer: 1 },
  { question: 'Question: Water boils at sea level at what temperature in degrees Celsius?\nAnswer:', choices: ['50', '90', '100', '212'], answer: 2 },
  { question: 'Question: Which planet is closest to the Sun?\nAnswer:', choices: ['Venus', 'Mars', 'Mercury', 'Earth'], answer: 2 },
  { question: 'Question: What is the opposite of "ancient"?\nAnswer:', choices: ['old', 'modern', 'large', 'quiet'], answer: 1 },
  { question: 'Question: A triangle has how many sides?\nAnswer:', choices: ['three', 'four', 'five', 'two'], answer: 0 },
  { question: 'Question: Which organ pumps blood through the human body?\nAnswer:', choices: ['the liver', 'the lungs', 'the heart', 'the stomach'], answer: 2 },
  { question: 'Question: If today is Monday, what day is it two days later?\nAnswer:', choices: ['Tuesday', 'Wednesday', 'Thursday', 'Sunday'], answer: 1 },
  { question: 'Question: What do bees make from the nectar of flowers?\nAnswer:', choices: ['wax paper', 'honey', 'silk', 'milk'], answer: 1 },
  { question: 'Question: Ice is water in which state?\nAnswer:', choices: ['gas', 'liquid', 'solid', 'plasma'], answer: 2 },
  { question: 'Question: Which number is a prime?\nAnswer:', choices: ['9', '15', '21', '13'], answer: 3 },
];

export const BUILTIN_TEXT: string[] = [
  'The village stood at the edge of a wide valley, where the river slowed and spread into marshes before it reached the sea. In spring the fields turned green almost overnight, and the farmers walked out early to see how the winter wheat had fared.',
  'To make a simple loaf of bread, mix flour, water, salt and a little yeast, then knead the dough until it is smooth. Let it rise in a warm place for about an hour, shape it, let it rise again, and bake it in a hot oven until the crust is brown.',
  'Computers store numbers in binary, using only the digits zero and one. Each position in a binary number stands for a power of two, so the number five is written as one, zero, one: four plus zero plus one.',
  'The library opened its doors at nine every morning. Students came in with their bags and laptops, found a quiet table near the windows, and worked until the light outside began to fade.',
];
