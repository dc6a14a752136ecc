// Streaming variant of openai_chat_image_url.mjs (usage via stream_options.include_usage).
import OpenAI from "openai";
const openai = new OpenAI({
  apiKey: process.env.XAI_API_KEY,
  baseURL: process.env.OCULI_BASE_URL ?? "https://api.x.ai/v1",
});
const image_url =
  process.env.OCULI_IMAGE_URL ?? "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png";
const stream = await openai.chat.completions.create({
  model: "grok-4",
  messages: [
    {
      role: "user",
      content: [
        {
          type: "image_url",
          image_url: {
            url: image_url,
            detail: "high",
          },
        },
        {
          type: "text",
          text: "What's in this image?",
        },
      ],
    },
  ],
  stream: true,
  stream_options: { include_usage: true },
});

let usage;
let answer = "";
for await (const chunk of stream) {
  answer += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
console.log(answer);
console.log(usage.prompt_tokens_details.image_tokens);
