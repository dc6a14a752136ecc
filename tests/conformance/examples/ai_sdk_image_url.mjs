import { xai } from '@ai-sdk/xai';
import { generateText } from 'ai';

const result = await generateText({
  model: "grok-4",
  messages: [
    {
      role: 'user',
      content: [
        {
          type: 'image',
          image: new URL(
            process.env.OCULI_IMAGE_URL ?? 'https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png',
          ),
        },
        {
          type: 'text',
          text: "What's in this image?",
        },
      ],
    },
  ],
});

console.log(result.text);
