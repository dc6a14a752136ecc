import { promises as fs } from "fs";
import OpenAI from "openai";

const openai = new OpenAI({
  apiKey: process.env.XAI_API_KEY,
  baseURL: process.env.OCULI_BASE_URL ?? "https://api.x.ai/v1",
});

const image_path =
  process.env.OCULI_IMAGE_PATH ?? "...";

async function getBase64(filePath) {
  try {
    const buffer = await fs.readFile(filePath);
    let base64 = buffer.toString("base64");
    while (base64.length % 4 > 0) {
      base64 += "=";
    }
    return base64;
  } catch (error) {
    throw error;
  }
}

const base64_image = await getBase64(image_path);

const completion = await openai.chat.completions.create({
  model: "grok-4",
  messages: [
    {
      role: "user",
      content: [
        {
          type: "image_url",
          image_url: {
            url: `data:image/jpeg;base64,${base64_image}`,
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
});

console.log(completion.choices[0].message.content);
