// Structured output with an image through the AI SDK: generateObject with a zod schema,
// on both xAI provider surfaces (Responses and chat completions).
import { createXai } from '@ai-sdk/xai';
import { generateObject } from 'ai';
import { z } from 'zod';
import fs from 'fs';

const xai = createXai({ baseURL: process.env.OCULI_BASE_URL });

const receipt = z.object({
  shop: z.string().max(6),
  total: z.number().int().min(0).max(999),
  paid: z.boolean(),
  kind: z.enum(['food', 'fuel', 'other']),
});

for (const model of [xai.responses('grok-4'), xai('grok-4')]) {
  const { object } = await generateObject({
    model,
    schema: receipt,
    maxOutputTokens: 200,
    messages: [
      {
        role: 'user',
        content: [
          { type: 'image', image: fs.readFileSync('./data/receipt.png') },
          { type: 'text', text: 'Read this receipt.' },
        ],
      },
    ],
  });
  console.log(JSON.stringify(receipt.parse(object)));
}
