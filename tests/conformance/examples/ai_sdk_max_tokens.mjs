// Not in the seeds: how the AI SDK reports a response cut off by maxOutputTokens.
import { createXai } from '@ai-sdk/xai';
import { generateText, streamText } from 'ai';

const xai = createXai({ baseURL: process.env.OCULI_BASE_URL });

const whole = await generateText({ model: xai.responses('grok-4'), prompt: 'Describe the image in detail.', maxOutputTokens: 3 });
console.log('generateText', whole.finishReason, whole.rawFinishReason, whole.usage.outputTokens);

const streamed = streamText({ model: xai.responses('grok-4'), prompt: 'Describe the image in detail.', maxOutputTokens: 3 });
for await (const _ of streamed.textStream) { /* drain */ }
console.log('streamText', await streamed.finishReason, await streamed.rawFinishReason, (await streamed.usage).outputTokens);
