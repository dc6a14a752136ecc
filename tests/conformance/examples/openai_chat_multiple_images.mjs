// The "Multiple images input" fragment, in the program of the base64 example.
import { promises as fs } from "fs";
import OpenAI from "openai";

const openai = new OpenAI({
  apiKey: process.env.XAI_API_KEY,
  baseURL: process.env.OCULI_BASE_URL ?? "https://api.x.ai/v1",
});

async function getBase64(filePath) {
  const buffer = await fs.readFile(filePath);
  let base64 = buffer.toString("base64");
  while (base64.length % 4 > 0) {
    base64 += "=";
  }
  return base64;
}

const base64_image1 = await getBase64(process.env.OCULI_IMAGE_PATH_1 ?? "...");
const base64_image2 = await getBase64(process.env.OCULI_IMAGE_PATH_2 ?? "...");

const completion = await openai.chat.completions.create({
  model: "grok-4",
  messages: [
    {
      role: "user",
      content: [
        {
          type: "image_url",
          image_url: {
            url: `data:image/jpeg;base64,${base64_image1}`,
            detail: "high",
          },
        },
        {
          type: "text",
          text: "What are in these images?",
        },
        {
          type: "image_url",
          image_url: {
            url: `data:image/jpeg;base64,${base64_image2}`,
            detail: "high",
          },
        },
      ]
    }
  ],
});

console.log(completion.choices[0].message.content);
console.log(completion.usage.prompt_tokens_details.image_tokens);
