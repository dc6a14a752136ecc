import OpenAI from "openai";
const openai = new OpenAI({
  apiKey: process.env.XAI_API_KEY,
  baseURL: process.env.OCULI_BASE_URL ?? "https://api.x.ai/v1",
});
const image_url =
  process.env.OCULI_IMAGE_URL ?? "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png";
const completion = await openai.chat.completions.create({
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
});

console.log(completion.choices[0].message.content);
