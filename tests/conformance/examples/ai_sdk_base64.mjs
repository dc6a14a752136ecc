import { createXai } from '@ai-sdk/xai';
import { generateText } from 'ai';
import fs from 'fs';

const xai = createXai({ baseURL: process.env.OCULI_BASE_URL });

const result = await generateText({
  model: xai('grok-4'),
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'Describe the image in detail.' },
        { type: 'image', image: fs.readFileSync('./data/comic-cat.png') },
      ],
    },
  ],
});

console.log(result.text);
