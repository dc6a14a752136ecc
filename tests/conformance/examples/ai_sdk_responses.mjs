import { createXai } from '@ai-sdk/xai';
import { generateText } from 'ai';

const xai = createXai({ baseURL: process.env.OCULI_BASE_URL });

const { text, response } = await generateText({
    model: xai.responses('grok-4.20-reasoning'),
    messages: [
        {
            role: 'user',
            content: [
                {
                    type: 'image',
                    image: new URL(process.env.OCULI_IMAGE_URL ?? 'https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png'),
                },
                {
                    type: 'text',
                    text: "What's in this image?",
                },
            ],
        },
    ]
});

console.log(text);

// The response ID can be used to continue the conversation
console.log(response.id);
