// Streaming variant of openai_responses.mjs.
import OpenAI from "openai";

const client = new OpenAI({
    apiKey: process.env.XAI_API_KEY ?? "<api key>",
    baseURL: process.env.OCULI_BASE_URL ?? "https://api.x.ai/v1",
    timeout: 360000,
});

const image_url =
    process.env.OCULI_IMAGE_URL ?? "https://science.nasa.gov/wp-content/uploads/2023/09/web-first-images-release.png";

const stream = await client.responses.create({
    model: "grok-4.20-reasoning",
    input: [
        {
            role: "user",
            content: [
                {
                    type: "input_image",
                    image_url: image_url,
                    detail: "high",
                },
                {
                    type: "input_text",
                    text: "What's in this image?",
                },
            ],
        },
    ],
    stream: true,
});

let response;
let answer = "";
for await (const event of stream) {
    if (event.type === "response.output_text.delta") answer += event.delta;
    if (event.type === "response.completed" || event.type === "response.incomplete") response = event.response;
}
console.log(answer);
console.log(response.id);
console.log(response.usage.input_tokens_details.image_tokens);
