// Preloaded with `node --import` before ai_sdk_image_url.mjs. That example passes
// `model: "grok-4"`, a plain string: AI SDK 7 resolves string model ids through
// `globalThis.AI_SDK_DEFAULT_PROVIDER`, which defaults to the Vercel AI Gateway
// (https://ai-gateway.vercel.sh, key AI_GATEWAY_API_KEY, ids like "xai/grok-4").
// Setting the global default provider (the AI SDK's documented "global provider"
// hook, normally done in an instrumentation file) to an xAI provider pointed at
// oculi runs the example unchanged.
import { createXai } from '@ai-sdk/xai';

globalThis.AI_SDK_DEFAULT_PROVIDER = createXai({ baseURL: process.env.OCULI_BASE_URL });
