// The AI SDK (xAI provider, which speaks the Responses API) on a thinking model: reasoning streamed and whole.
// Prints one JSON line: what each model gave as reasoning, text and reasoning tokens, and any stream errors.
import { createXai } from "@ai-sdk/xai";
import { generateText, streamText } from "ai";

const xai = createXai({ baseURL: process.env.OCULI_BASE_URL, apiKey: process.env.OCULI_API_KEY });
const prompt = "What is in the picture?";
const errors = [];

const streamed = streamText({
  model: xai.responses("grok-4"),
  prompt,
  maxOutputTokens: 24,
  temperature: 0,
  providerOptions: { xai: { reasoningEffort: "low" } },
  onError({ error }) {
    errors.push(String(error));
  },
});
let reasoning = "";
let text = "";
for await (const part of streamed.fullStream) {
  if (part.type === "reasoning-delta") reasoning += part.text;
  if (part.type === "text-delta") text += part.text;
  if (part.type === "error") errors.push(String(part.error));
}
const usage = await streamed.usage;

const whole = await generateText({
  model: xai.responses("grok-4"),
  prompt,
  maxOutputTokens: 24,
  temperature: 0,
  providerOptions: { xai: { reasoningEffort: "low" } },
});

console.log(
  JSON.stringify({
    responses: { reasoning, text, reasoningTokens: usage.reasoningTokens ?? usage.outputTokenDetails?.reasoningTokens },
    whole: { reasoning: whole.reasoningText ?? "", text: whole.text },
    errors,
  }),
);
