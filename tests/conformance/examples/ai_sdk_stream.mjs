// Streaming variant of ai_sdk_responses.mjs (streamText instead of generateText).
import { createXai } from '@ai-sdk/xai';
import { streamText } from 'ai';

const xai = createXai({ baseURL: process.env.OCULI_BASE_URL });

const result = streamText({
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
    ],
    onError({ error }) {
        console.error(error);
        process.exitCode = 1;
    },
});

let answer = "";
for await (const textPart of result.textStream) {
    answer += textPart;
}
console.log(answer);
console.log((await result.response).id);
console.log((await result.usage).raw.input_tokens_details.image_tokens);
