// The "Multiple images input" fragment, in the program of the base64 example.
import { createXai } from '@ai-sdk/xai';
import { generateText } from 'ai';
import fs from 'fs';

const xai = createXai({ baseURL: process.env.OCULI_BASE_URL });

const base64Image1 = fs.readFileSync(process.env.OCULI_IMAGE_PATH_1).toString('base64');
const base64Image2 = fs.readFileSync(process.env.OCULI_IMAGE_PATH_2).toString('base64');

const result = await generateText({
  model: xai('grok-4'),
  messages: [
    {
      role: 'user',
      content: [
        {
          type: 'image',
          image: `data:image/jpeg;base64,${base64Image1}`,
        },
        {
          type: 'text',
          text: 'What are in these images?',
        },
        {
          type: 'image',
          image: `data:image/jpeg;base64,${base64Image2}`,
        },
      ],
    },
  ],
});

console.log(result.text);
