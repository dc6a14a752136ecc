// Continues the conversation of ai_sdk_responses.mjs by its response id (the seed: "The response ID
// can be used to continue the conversation"), via the provider option previousResponseId.
import { createXai } from '@ai-sdk/xai';
import { generateText } from 'ai';
const xai = createXai({ baseURL: process.env.OCULI_BASE_URL });
const { response } = await generateText({
    model: xai.responses('grok-4.20-reasoning'),
    messages: [{ role: 'user', content: [
        { type: 'image', image: new URL(process.env.OCULI_IMAGE_URL ?? 'https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png') },
        { type: 'text', text: "What's in this image?" } ] }],
});
console.log(response.id);
const second = await generateText({
    model: xai.responses('grok-4.20-reasoning'),
    prompt: 'Describe it in more detail.',
    providerOptions: { xai: { previousResponseId: response.id } },
});
console.log(second.text);
console.log(second.usage.raw.input_tokens_details.image_tokens);
